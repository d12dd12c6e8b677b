"""The download job and the APScheduler that runs it for each stream every few minutes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gatecam.database import queries
from gatecam.database.engine import Database, reason
from gatecam.database.migrate import require_current
from gatecam.database.queries import ImageRecord, chunked
from gatecam.downloader.archive import WriterLock
from gatecam.downloader.fetch import DownloadedImage, DrayDogDownloader, FailedDownload
from gatecam.downloader.reconcile import expire, index_files
from gatecam.errors import GatecamError, InputError
from gatecam.sources.base import ImageRef, check_name
from gatecam.sources.browser import CameraPageBrowser
from gatecam.sources.draydog import DrayDogSource

logger = logging.getLogger(__name__)

# How far back a restarted scheduler looks for days it missed.
MAX_CATCH_UP_DAYS = 14


@dataclass
class DownloadConfig:
    """What to archive, where to, and how fast; validated on construction."""

    stream_names: list[str] = field(default_factory=lambda: ["in_gate"])
    download_dir: Path | str = Path("data/images")
    terminal: str = "apm"
    database_url: str = "sqlite:///data/gatecam.db"
    app_url: str = "https://app.draydog.com"
    cdn_url: str = "https://cdn.draydog.com"
    interval_minutes: int = 10
    concurrency: int = 8
    batch_size: int = 100
    chromium_path: str = "/usr/bin/chromium"
    retention_days: int | None = None
    # How long the camera page may take to show its History section.
    page_timeout: float = 30.0

    def __post_init__(self) -> None:
        check_name(self.terminal, "terminal")
        if not self.stream_names:
            raise InputError("streams: at least one stream is needed")
        for stream in self.stream_names:
            check_name(stream, "streams")
        for name in ("interval_minutes", "concurrency", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be at least 1, not {getattr(self, name)}")
        if self.retention_days is not None and self.retention_days < 1:
            raise InputError(f"retention_days: must be at least 1, not {self.retention_days}")
        self.download_dir = Path(self.download_dir)


@dataclass
class DownloadStats:
    """Statistics as stored in the database (never kept in memory or a JSON file)."""

    total_downloaded: int = 0
    downloads_by_stream: dict[str, int] = field(default_factory=dict)
    last_hour: int = 0
    last_24h: int = 0
    last_download: datetime | None = None
    total_runs: int = 0
    successful_runs: int = 0
    failed_runs: int = 0
    failed_downloads: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``last_download`` as ISO 8601 with its UTC offset."""
        data = dict(vars(self))
        data["downloads_by_stream"] = dict(self.downloads_by_stream)
        data["last_download"] = self.last_download.isoformat() if self.last_download else None
        return data


@dataclass
class RunResult:
    """What one job did for one stream."""

    stream: str
    days: list[str]
    discovered: int = 0
    downloaded: int = 0
    pending: int = 0
    failed: list[FailedDownload] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = (
            f"{self.stream} {','.join(self.days)}: {self.discovered} listed, "
            f"{self.downloaded} new, {len(self.failed)} failed, {self.pending} not published yet"
        )
        if self.error:
            text += f"; error: {self.error}"
        elif self.failed:
            text += (
                f"; first failure: {self.failed[0].ref.timestamp:%H:%M:%S} {self.failed[0].reason}"
            )
        return text


class ImageDownloadScheduler:
    """Runs the download job for each configured stream now and then every interval."""

    def __init__(self, config: DownloadConfig) -> None:
        self.config = config
        self.download_dir = Path(config.download_dir)
        self.source = DrayDogSource(config.app_url, config.cdn_url)
        self.db = Database(config.database_url)
        # Fail at construction, not at the first tick: an unreachable database is a setting
        # the user must fix now.
        require_current(self.db)
        self.is_running = False
        self._shutdown_event = threading.Event()
        self._writer_lock = WriterLock(self.download_dir)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # One job at a time: one headless Chromium at a time on a small server.
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": config.interval_minutes * 60,
            },
        )

    # -- statistics -------------------------------------------------------------------------

    @property
    def stats(self) -> DownloadStats:
        """Current statistics, read from the database."""
        with self.db.session_scope() as session:
            return DownloadStats(**queries.get_stats(session, self.config.terminal))

    def get_stats(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict (the keys of `gatecam stats --json`)."""
        return self.stats.as_dict()

    # -- persistence ------------------------------------------------------------------------

    def save_to_database(self, downloaded_files: Sequence[Mapping[str, Any]]) -> int:
        """Store the metadata of downloaded files in batches; return how many rows were new.

        Each dict has ``filepath`` and ``camera_id``, optionally ``timestamp`` (aware datetime
        or ISO 8601 with offset), ``file_size``, ``sha256``, ``terminal`` and ``thumbnail``.
        Files already recorded are skipped, so saving the same list twice changes nothing.
        """
        records = [self._record(info) for info in downloaded_files]
        if not records:
            return 0
        with self.db.session_scope() as session:
            new = queries.insert_images(session, records, batch_size=self.config.batch_size)
        logger.debug("database: %d of %d image rows were new", new, len(records))
        return new

    def _record(self, info: Mapping[str, Any]) -> ImageRecord:
        timestamp = info.get("timestamp")
        if isinstance(timestamp, str):
            timestamp = datetime.fromisoformat(timestamp)
        if timestamp is not None and timestamp.tzinfo is None:
            raise InputError(f"timestamp of {info['filepath']} has no UTC offset: {timestamp}")
        return ImageRecord(
            terminal=info.get("terminal", self.config.terminal),
            camera_id=info["camera_id"],
            filepath=str(info["filepath"]),
            timestamp=timestamp,
            file_size=info.get("file_size"),
            sha256=info.get("sha256"),
            thumbnail=bool(info.get("thumbnail", False)),
        )

    def _file_info(self, image: DownloadedImage) -> dict[str, Any]:
        return {
            "terminal": image.ref.terminal,
            "camera_id": image.ref.stream,
            "timestamp": image.ref.timestamp,
            "filepath": image.filepath.relative_to(self.download_dir).as_posix(),
            "file_size": image.file_size,
            "sha256": image.sha256,
            "thumbnail": image.thumbnail,
        }

    # -- the job ----------------------------------------------------------------------------

    def run_once(self, day: date | None = None) -> list[RunResult]:
        """One pass over every stream, for ``day`` (default: today and any missed days)."""
        self._join_writers()
        return [
            self._download_stream(stream, day)
            for stream in self.config.stream_names
            if not self._shutdown_event.is_set()
        ]

    def _download_stream(self, stream: str, day: date | None = None) -> RunResult:
        result = RunResult(stream=stream, days=[])
        try:
            with self.db.session_scope() as session:
                days = self._days_to_list(session, stream, day)
                result.days = [d.isoformat() for d in days]
                run_id = queries.start_run(session, self.config.terminal, stream, result.days)
        except SQLAlchemyError as exc:
            # One line per failed job; the files of a job cut short get their rows next time.
            result.error = f"database unavailable: {reason(exc)}"
            logger.error("run %s", result.summary())
            return result
        try:
            index_files(
                self.db,
                self.download_dir,
                self.config.terminal,
                stream,
                days,
                batch_size=self.config.batch_size,
            )
            self._download(stream, days, result)
            if self.config.retention_days:
                before = datetime.now(UTC) - timedelta(days=self.config.retention_days)
                expire(self.db, self.download_dir, self.config.terminal, stream, before)
        except GatecamError as exc:
            result.error = str(exc)
        except SQLAlchemyError as exc:
            result.error = f"database unavailable: {reason(exc)}"
        except Exception as exc:
            # The top of the job loop: whatever went wrong is recorded and the scheduler goes on.
            logger.exception("download job for %s crashed", stream)
            result.error = f"unexpected error: {type(exc).__name__}: {exc}"
        self._finish_run(run_id, result)
        log = logger.error if result.error else logger.warning if result.failed else logger.info
        log("run %s", result.summary())
        return result

    def _days_to_list(self, session: Session, stream: str, day: date | None) -> list[date]:
        """The asked-for day, or today plus every day since the last run that fully covered its day.

        A scheduler that was down across midnight or for days catches up on what the source
        still shows (issue 3, item 3).
        """
        if day is not None:
            return [day]
        today = datetime.now(UTC).date()
        last = queries.last_covered_day(session, self.config.terminal, stream)
        # Never further back than retention would keep, nor than the source plausibly holds.
        horizon = min(MAX_CATCH_UP_DAYS, self.config.retention_days or MAX_CATCH_UP_DAYS)
        first = today if last is None else max(last, today - timedelta(days=horizon))
        return [first + timedelta(days=n) for n in range((today - first).days + 1)]

    def _download(self, stream: str, days: list[date], result: RunResult) -> None:
        terminal = self.config.terminal
        today = datetime.now(UTC).date()
        refs: set[ImageRef] = set()
        with CameraPageBrowser(
            self.source, chromium_path=self.config.chromium_path, timeout=self.config.page_timeout
        ) as page:
            for day in days:
                # The page opens on today; other days are picked in its date picker.
                shown = page.list_images(terminal, stream, None if day == today else day)
                # A past day's page still shows today's latest image; a run covers its days.
                refs.update(ref for ref in shown if ref.timestamp.date() in days)
        result.discovered = len(refs)
        with self.db.session_scope() as session:
            missing = queries.missing_timestamps(
                session, terminal, stream, (r.timestamp for r in refs)
            )
        with DrayDogDownloader(
            self.download_dir,
            terminal=terminal,
            source=self.source,
            concurrency=self.config.concurrency,
        ) as downloader:
            for batch in chunked(missing, self.config.batch_size):
                if self._shutdown_event.is_set():
                    result.error = "stopped before the run was complete"
                    break
                fetched = downloader.download_images_direct(stream, batch)
                result.downloaded += self.save_to_database(
                    [self._file_info(image) for image in fetched.downloaded]
                )
                result.failed += fetched.failed
                result.pending += len(fetched.pending)

    def _finish_run(self, run_id: int, result: RunResult) -> None:
        error = result.error
        if error is None and result.failed:
            error = f"{len(result.failed)} downloads failed, first: {result.failed[0].reason}"
        try:
            with self.db.session_scope() as session:
                queries.finish_run(
                    session,
                    run_id,
                    failed_run=result.error is not None,
                    discovered=result.discovered,
                    downloaded=result.downloaded,
                    failed=len(result.failed),
                    pending=result.pending,
                    error=error,
                )
        except SQLAlchemyError as exc:
            result.error = result.error or f"database unavailable: {reason(exc)}"

    # -- scheduling -------------------------------------------------------------------------

    def _join_writers(self) -> None:
        removed = self._writer_lock.acquire()
        if removed:
            logger.info("removed %d partial files left by an interrupted run", removed)

    def start(self) -> None:
        """Run every stream's job now, then every ``interval_minutes``, in the background."""
        self._join_writers()
        for stream in self.config.stream_names:
            self.scheduler.add_job(
                self._download_stream,
                IntervalTrigger(minutes=self.config.interval_minutes, timezone=UTC),
                args=[stream],
                id=f"download:{self.config.terminal}:{stream}",
                name=f"download {self.config.terminal}/{stream}",
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.start()
        self.is_running = True
        logger.info(
            "scheduler started: %s/%s every %d min",
            self.config.terminal,
            ",".join(self.config.stream_names),
            self.config.interval_minutes,
        )

    def stop(self) -> None:
        """Stop after the batch in flight is saved and its run recorded."""
        self._shutdown_event.set()
        if self.is_running:
            self.scheduler.shutdown(wait=True)
            self.is_running = False
        self._writer_lock.release()
        self.db.dispose()
        logger.info("scheduler stopped")
