"""Prometheus metrics of this process: what the job and the downloader did, and how fast.

Counters only, no database: the archive's own gauges are read at each scrape by the web
layer (gatecam.web.metrics), so the downloader that counts here never imports SQLAlchemy.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

DOWNLOADS = Counter(
    "gatecam_downloads",
    "Images handled by the downloader, by outcome (downloaded, failed, pending)",
    ["terminal", "stream", "outcome"],
    registry=REGISTRY,
)
CDN_REQUESTS = Counter("gatecam_cdn_requests", "HTTP requests sent to the CDN", registry=REGISTRY)
CDN_BYTES = Counter("gatecam_cdn_bytes", "Body bytes received from the CDN", registry=REGISTRY)
RUN_SECONDS = Histogram(
    "gatecam_run_seconds",
    "Duration of one stream's download job",
    ["terminal", "stream"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
DISCOVERY_SECONDS = Histogram(
    "gatecam_discovery_seconds",
    "Duration of listing one stream's days in the browser",
    ["terminal", "stream"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120),
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "gatecam_last_success_timestamp_seconds",
    "Unix time the last successful run of a stream ended (every listed image stored)",
    ["terminal", "stream"],
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "gatecam_database_errors", "Jobs cut short because the database failed", registry=REGISTRY
)


def download_finished(terminal: str, stream: str, outcome: str, count: int = 1) -> None:
    if count:
        DOWNLOADS.labels(terminal, stream, outcome).inc(count)


def cdn_response(nbytes: int) -> None:
    CDN_REQUESTS.inc()
    CDN_BYTES.inc(nbytes)


def run_finished(terminal: str, stream: str, seconds: float, ok: bool) -> None:
    RUN_SECONDS.labels(terminal, stream).observe(seconds)
    if ok:
        LAST_SUCCESS.labels(terminal, stream).set(time.time())


def discovery_finished(terminal: str, stream: str, seconds: float) -> None:
    DISCOVERY_SECONDS.labels(terminal, stream).observe(seconds)


def database_error() -> None:
    DATABASE_ERRORS.inc()
