"""Prometheus metrics of this process: what the job and the downloader did, and how fast."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from gatecam.camerastate import CameraCollector
from gatecam.database import browse, health
from gatecam.database.engine import Database

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


class ArchiveCollector(Collector):
    """Gauges read from the database at each scrape.

    The in-process metrics above only exist in the process that runs the job; these come
    from the tables, so ``gatecam web`` on another host reports the archive's state too.
    """

    def __init__(self, db: Database, streams: Sequence[tuple[str, str]] | None = None) -> None:
        self.db = db
        # The judged streams (see gatecam.database.health); a retired one is left out.
        self.streams = streams

    def describe(self) -> Iterable[Metric]:
        # Nothing to check for clashes at registration, and no query before the first scrape.
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("gatecam_archive_database_up", "1 if the database answered")
        images = CounterMetricFamily(
            "gatecam_archive_images", "Images archived per stream (lifetime)", labels=LABELS
        )
        last_download = GaugeMetricFamily(
            "gatecam_archive_last_download_timestamp_seconds",
            "Unix time an image of the stream was last stored",
            labels=LABELS,
        )
        last_success = GaugeMetricFamily(
            "gatecam_archive_last_success_timestamp_seconds",
            "Unix time the last successful run of the stream ended, from download_runs",
            labels=LABELS,
        )
        try:
            with self.db.read_scope() as session:
                judged = set(health.judged_streams(session, self.streams, datetime.now(UTC)))
                streams = browse.streams(session)
                successes = browse.last_successes(session)
        except SQLAlchemyError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        for s in streams:
            # What the archive holds stays; the times alerts watch are the judged streams'.
            images.add_metric([s.terminal, s.stream], s.total)
            if s.last_download is not None and (s.terminal, s.stream) in judged:
                last_download.add_metric([s.terminal, s.stream], s.last_download.timestamp())
        for (terminal, stream), last in successes.items():
            if last is not None and (terminal, stream) in judged:
                last_success.add_metric([terminal, stream], last.timestamp())
        return [up, images, last_download, last_success]


LABELS = ["terminal", "stream"]


def exposition(
    db: Database | None = None, streams: Sequence[tuple[str, str]] | None = None
) -> bytes:
    """This process's metrics and, given a database, the archive's, in the text format.

    ``streams`` are the judged streams; None: those that ran in the last day.
    """
    body = generate_latest(REGISTRY)
    if db is not None:
        archive = CollectorRegistry(auto_describe=False)
        archive.register(ArchiveCollector(db, streams))
        archive.register(CameraCollector(db))
        body += generate_latest(archive)
    return body
