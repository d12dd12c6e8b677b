"""``ImageDownloadScheduler``: times the download job with APScheduler, every interval.

The pipeline lives in job.py and the archive it works on comes from ``open_archive``; this
module runs one pass per tick and keeps the public API: ``DownloadConfig``,
``DownloadStats``, ``save_to_database``, ``get_stats``, ``run_once``, ``start`` and ``stop``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from gatecam.archive import open_archive, open_source
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.database.stats import DownloadStats, read_stats
from gatecam.downloader.job import DownloadJob, RunResult
from gatecam.errors import InputError
from gatecam.model import check_name
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Source
from gatecam.storage import ImageStore, UpkeepStore

__all__ = ["DownloadConfig", "DownloadStats", "ImageDownloadScheduler", "RunResult"]

logger = logging.getLogger(__name__)


# Segments Path would drop or that leave the folder; "" also stands for an empty string.
_NOT_PLAIN = frozenset(("", ".", ".."))


def _plain_key(text: str) -> bool:
    """Whether ``text`` is a relative POSIX path that Path would give back unchanged."""
    return not text.startswith("/") and _NOT_PLAIN.isdisjoint(text.split("/"))


def _timestamp(n: int, filepath: str, value: object) -> datetime:
    """A record's timestamp that is not an aware datetime: ISO 8601 text, or an error."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(
                f"downloaded_files[{n}]: timestamp {value!r} is not ISO 8601"
            ) from None
    if not isinstance(value, datetime):
        raise InputError(f"downloaded_files[{n}]: timestamp {value!r} is not a datetime")
    if value.tzinfo is None:
        raise InputError(f"timestamp of {filepath} has no UTC offset: {value}")
    return value


class ImageDownloadScheduler:
    """Runs the download job for every configured stream now and then every interval.

    SQLite is created and upgraded in place, as the CLI does; a PostgreSQL server must be at
    the latest schema (`gatecam db upgrade`).
    """

    def __init__(
        self,
        config: DownloadConfig,
        *,
        source: Source | None = None,
        store: UpkeepStore | None = None,
    ) -> None:
        self.config = config
        self.archive = open_archive(config, source=source, store=store)
        self.db: Database = self.archive.db
        self.store: ImageStore = self.archive.store
        # A writer's archive always has its source; the fallback only satisfies the type.
        self.source: Source = self.archive.source or open_source(config)
        self.is_running = False
        self._stop = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # One pass at a time: one headless Chromium at a time on a small server. Upkeep
            # (add_hourly) has a thread of its own, never delaying a pass.
            executors={
                "default": ThreadPoolExecutor(max_workers=1),
                "upkeep": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(config.interval_minutes * 60)),
            },
        )
        self.job = DownloadJob(
            config, self.db, self.source, self.store, stop=self._stop, next_try=self._next_try
        )

    @property
    def download_dir(self) -> Path:
        return self.config.download_dir

    # -- statistics -------------------------------------------------------------------------

    @property
    def stats(self) -> DownloadStats:
        """Current statistics of the configured terminals, read from the database."""
        terminals = {target.terminal for target in self.config.targets}
        # A lone read: never queues behind the job's write transaction.
        return read_stats(self.db, next(iter(terminals)) if len(terminals) == 1 else None)

    def get_stats(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict (the keys of `gatecam stats --json`)."""
        return self.stats.as_dict()

    # -- persistence ------------------------------------------------------------------------

    def save_to_database(self, downloaded_files: Sequence[Mapping[str, Any]]) -> int:
        """Store the metadata of downloaded files in batches; return how many rows were new.

        Each dict has ``filepath`` (the storage key: relative to the download folder) and
        ``camera_id``, optionally ``timestamp`` (aware datetime or ISO 8601 with offset),
        ``file_size``, ``sha256``, ``terminal`` and ``thumbnail``. Files already recorded are
        skipped, so saving the same list twice changes nothing. An invalid record raises
        InputError naming it, as the CLI does for its flags, and nothing of the list is saved.
        """
        # Names repeat across a batch: each distinct one is checked once.
        names: set[str] = set()
        records = [self._record(n, info, names) for n, info in enumerate(downloaded_files)]
        if not records:
            return 0
        with self.db.session_scope() as session:
            new = queries.insert_images(session, records, batch_size=self.config.batch_size)
        logger.debug("database: %d of %d image rows were new", new, len(records))
        return new

    def _record(self, n: int, info: Mapping[str, Any], names: set[str]) -> ImageRecord:
        # Checked for every record of a save: the usual case takes the fewest steps, and an
        # error message is only built for a record that is wrong.
        filepath, camera_id = info.get("filepath"), info.get("camera_id")
        if not filepath or not camera_id:
            key = "camera_id" if filepath else "filepath"
            raise InputError(f"downloaded_files[{n}]: {key!r} is missing")
        camera_id = str(camera_id)
        terminal = str(info.get("terminal", self.config.terminal))
        # The names the CLI accepts, for the same reasons: path parts and 64-character columns.
        if camera_id not in names or terminal not in names:
            names.add(check_name(camera_id, f"downloaded_files[{n}]: camera_id"))
            names.add(check_name(terminal, f"downloaded_files[{n}]: terminal"))
        timestamp = info.get("timestamp")
        if timestamp is not None and not (
            isinstance(timestamp, datetime) and timestamp.tzinfo is not None
        ):
            timestamp = _timestamp(n, filepath, timestamp)
        return ImageRecord(
            terminal,
            camera_id,
            self._key(filepath),
            timestamp,
            info.get("file_size"),
            info.get("sha256"),
            bool(info.get("thumbnail", False)),
        )

    def _key(self, filepath: str | Path) -> str:
        # Rows hold storage keys so the archive can move; an absolute path inside the
        # download folder is made relative, one outside it is refused.
        if isinstance(filepath, str) and _plain_key(filepath):
            # What the downloader hands over: already a key. Building a Path for each one
            # took half the time of a 10,000-row save.
            return filepath
        path = Path(filepath)
        if path.is_absolute():
            try:
                path = path.relative_to(self.download_dir.absolute())
            except ValueError:
                raise InputError(
                    f"filepath {filepath} is outside the download folder {self.download_dir}"
                ) from None
        if ".." in path.parts:
            raise InputError(f"filepath {filepath} leaves the download folder")
        return path.as_posix()

    # -- the job ----------------------------------------------------------------------------

    def run_once(
        self,
        day: date | None = None,
        *,
        days: Sequence[date] = (),
        on_result: Callable[[RunResult], None] = lambda _: None,
    ) -> list[RunResult]:
        """One pass over every stream, for ``day`` (default: today and any missed days).

        ``days`` makes one run per stream and day (a backfill); ``on_result`` hears of each.
        """
        return self.job.run(day, days=days, on_result=on_result)

    def retry_missed(
        self, on_result: Callable[[RunResult], None] = lambda _: None
    ) -> list[RunResult]:
        """Try every missed image of the configured streams again now (one run per stream)."""
        return self.job.retry_missed(on_result=on_result)

    def _tick(self) -> None:
        # Instances tick on the same wall-clock slots, so "this tick" means the same to all.
        slot = self.config.interval_minutes * 60
        now = datetime.now(UTC).timestamp()
        tick = datetime.fromtimestamp(now - now % slot, UTC)
        for result in self.job.run(tick=tick):
            if result.skipped:
                logger.debug("run %s", result.summary())
                continue
            log = logger.info
            if result.status == "failed":
                log = logger.error
            elif not result.ok:
                log = logger.warning
            log("run %s", result.summary())

    def _next_try(self) -> datetime | None:
        job = self.scheduler.get_job("download") if self.is_running else None
        return job.next_run_time if job is not None else None

    # -- scheduling -------------------------------------------------------------------------

    def add_hourly(self, job: Callable[[], object], name: str) -> None:
        """Run ``job`` every hour at :30 on a thread of its own, never delaying a pass.

        For upkeep above the pipeline (the CLI's timelapse renderer): on the half hour, within
        an hour of any start and clear of midnight's pass. A failure is logged, and the next
        hour tries again.
        """
        self.scheduler.add_job(
            job,
            IntervalTrigger(hours=1, start_date=datetime(1970, 1, 1, 0, 30, tzinfo=UTC)),
            name=name,
            executor="upkeep",
        )

    def start(self) -> None:
        """Run the job now, then every ``interval_minutes``, in the background."""
        name = "download " + ",".join(str(t) for t in self.config.targets)
        # Now, then on slots aligned on the epoch, so every instance's ticks are the same.
        self.scheduler.add_job(self._tick, id="download-now", name=name)
        self.scheduler.add_job(
            self._tick,
            IntervalTrigger(
                minutes=self.config.interval_minutes,
                start_date=datetime(1970, 1, 1, tzinfo=UTC),
                timezone=UTC,
            ),
            id="download",
            name=name,
        )
        self.scheduler.start()
        self.is_running = True
        logger.info(
            "scheduler started: %s every %g min",
            ",".join(str(t) for t in self.config.targets),
            self.config.interval_minutes,
        )

    def request_stop(self) -> None:
        """Ask the run in flight to end after its batch is saved; returns at once.

        Safe from a signal handler: it only sets an event the job checks between batches.
        """
        self._stop.set()

    def stop(self) -> None:
        """Stop after the batch in flight is saved and its run recorded."""
        self.request_stop()
        if self.is_running:
            self.scheduler.shutdown(wait=True)
            self.is_running = False
            logger.info("scheduler stopped")
        self.archive.close()
