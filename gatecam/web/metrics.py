"""/metrics: this process's counters, and the archive's gauges read from the database per scrape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import browse, health, missed
from gatecam.database.engine import Database
from gatecam.downloader.metrics import REGISTRY
from gatecam.health import Limits, State
from gatecam.health.frozen import camera_states
from gatecam.health.read import verdicts

# The thresholds of an archive run at the default 10-minute interval.
DEFAULT_LIMITS = Limits(interval=timedelta(minutes=10))

LABELS = ["terminal", "stream"]


class ArchiveCollector(Collector):
    """Gauges read from the database at each scrape.

    The in-process metrics above only exist in the process that runs the job; these come
    from the tables, so ``gatecam web`` on another host reports the archive's state too.
    """

    def __init__(
        self, db: Database, streams: Sequence[tuple[str, str]] | None, limits: Limits
    ) -> None:
        self.db = db
        # The judged streams (see gatecam.database.health); a retired one is left out.
        self.streams = streams
        self.limits = limits

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
        frozen = GaugeMetricFamily(
            "gatecam_camera_frozen",
            "1 if the stream's newest images all show one picture (camera frozen), else 0",
            labels=LABELS,
        )
        state = GaugeMetricFamily(
            "gatecam_stream_state",
            "1 for the stream's state now (ok, silent, failing, frozen, stale), 0 for the "
            "others: the judgement of /healthz and the web page",
            labels=[*LABELS, "state"],
        )
        missed_now = GaugeMetricFamily(
            "gatecam_missed_images",
            "Images the site listed that the archive could not store, per stream",
            labels=LABELS,
        )
        now = datetime.now(UTC)
        try:
            with self.db.read_scope() as session:
                judged = set(health.judged_streams(session, self.streams, now))
                streams = browse.streams(session)
                successes = browse.last_successes(session)
                cameras = camera_states(session)
                found = verdicts(session, self.streams, now, self.limits, cameras)
                missed_counts = missed.missed_counts(session)
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
        for camera in cameras:
            if (camera.terminal, camera.stream) in judged:
                frozen.add_metric([camera.terminal, camera.stream], 1 if camera.frozen else 0)
        for v in found:
            for kind in State:
                if kind is not State.DATABASE_DOWN:
                    state.add_metric([v.terminal, v.stream, kind.code], int(v.state is kind))
            missed_now.add_metric(
                [v.terminal, v.stream], missed_counts.get((v.terminal, v.stream), 0)
            )
        return [up, images, last_download, last_success, frozen, state, missed_now]


def process_exposition() -> bytes:
    """This process's counters (the job's, when it runs here), in the text format."""
    return generate_latest(REGISTRY)


def archive_exposition(
    db: Database, streams: Sequence[tuple[str, str]] | None = None, limits: Limits = DEFAULT_LIMITS
) -> bytes:
    """The archive's gauges read from ``db``; ``streams`` are the judged ones (None: run lately)."""
    archive = CollectorRegistry(auto_describe=False)
    archive.register(ArchiveCollector(db, streams, limits))
    return generate_latest(archive)


def exposition(
    db: Database | None = None, streams: Sequence[tuple[str, str]] | None = None
) -> bytes:
    """This process's metrics and, given a database, the archive's, in the text format."""
    body = process_exposition()
    if db is not None:
        body += archive_exposition(db, streams)
    return body
