"""One run of one stream: list its days, index what is stored, download what is missing.

A tick of many streams starts and ends their runs in bulk (tick.py) and lends each run what
the archive already holds of today (``held``); a run on its own (a backfill, a retry, a
stream the tick could not take in bulk) asks the database itself, stream by stream.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gatecam.database import missed, queries
from gatecam.database.engine import Database, reason
from gatecam.database.queries import ImageRecord, chunked
from gatecam.database.runs import CUT_OFF
from gatecam.days import site_dates
from gatecam.downloader import metrics
from gatecam.downloader.fetch import DownloadedImage
from gatecam.downloader.results import RunResult, one_line
from gatecam.downloader.tools import PassTools
from gatecam.errors import DiscoveryError, GatecamError
from gatecam.model import Clock, ImageRef, Target
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Source
from gatecam.storage import ImageStore
from gatecam.storage.base import day_prefix
from gatecam.upkeep.reconcile import expire, index_files

logger = logging.getLogger(__name__)

# How far back a restarted scheduler looks for days it missed.
MAX_CATCH_UP_DAYS = 14
HOST = socket.gethostname()
# A UTC day's first image may come this late: one every 8 to 12 minutes, and now and then
# an hour without one. Before that, an empty today says nothing.
FIRST_IMAGE = timedelta(minutes=90)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def image_record(image: DownloadedImage) -> ImageRecord:
    """The row of a downloaded image: its key, size, sha256 and camera-health figures."""
    figures = image.figures or (None, None, None)
    return ImageRecord(
        terminal=image.ref.terminal,
        camera_id=image.ref.stream,
        filepath=image.key,
        timestamp=image.ref.timestamp,
        file_size=image.file_size,
        sha256=image.sha256,
        thumbnail=image.thumbnail,
        dhash=figures[0],
        brightness=figures[1],
        contrast=figures[2],
    )


class StreamRunner:
    """Runs one stream at a time against one database, source and image store."""

    def __init__(
        self,
        config: DownloadConfig,
        db: Database,
        source: Source,
        store: ImageStore,
        *,
        stop: threading.Event,
        next_try: Callable[[], datetime | None],
        clock: Clock,
    ) -> None:
        self.config, self.db, self.source, self.store = config, db, source, store
        self.stop, self.clock, self._next_try = stop, clock, next_try
        # Runs whose end the database could not record, by stream, until it answers again.
        self.unrecorded: dict[Target, tuple[int, RunResult]] = {}

    def today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def run(
        self,
        target: Target,
        dates: list[date] | None,
        tools: PassTools,
        *,
        ledger: set[ImageRef] | None = None,
    ) -> RunResult:
        """One run of one stream: list its dates (or take ``ledger``'s images), download."""
        terminal, stream = target
        result = RunResult(terminal, stream)
        started = time.monotonic()
        try:
            left = self.unrecorded.get(target)
            with self.db.session_scope() as session:
                if left is not None:
                    self.record_cut_off(session, *left)
                stale = queries.interrupt_stale_runs(
                    session, terminal, stream, host=HOST, pid=os.getpid()
                )
                covered = None if dates else queries.last_covered_day(session, *target)
                days = dates or self.days_to_list(covered, None)
                result.days = [d.isoformat() for d in days]
                run_id = queries.start_run(
                    session, terminal, stream, result.days, host=HOST, pid=os.getpid()
                )
        except SQLAlchemyError as exc:
            # The files of a job cut short get their rows next time (index_files).
            metrics.database_error()
            result.error = self.with_next_try(f"database unavailable: {reason(exc)}")
            # The log line names the day it could not archive, not an empty one.
            result.days = result.days or [
                d.isoformat() for d in dates or self.days_to_list(None, None)
            ]
            return result
        self.unrecorded.pop(target, None)
        if stale:
            logger.info(
                "%s: marked %d run(s) left by a stopped process as interrupted", target, stale
            )
        self.work(target, days, covered, tools, result, ledger=ledger)
        self.finish(run_id, result)
        metrics.run_finished(terminal, stream, time.monotonic() - started, result.ok)
        return result

    def work(
        self,
        target: Target,
        days: list[date],
        covered: date | None,
        tools: PassTools,
        result: RunResult,
        *,
        ledger: set[ImageRef] | None = None,
        held: set[datetime] | None = None,
    ) -> None:
        """The body of a started run: whatever goes wrong ends up in ``result``.

        ``held``: the capture times the archive holds of the run's one day (today when the
        tick began), read for the whole tick; None asks the database.
        """
        terminal, stream = target
        try:
            if held is not None and self._unindexed(target, days, held):
                held = None  # rows are added below: the tick's snapshot no longer holds
            # Files written while the database was away get their rows now: stored by this run.
            if held is None:
                result.downloaded += index_files(
                    self.db, self.store, terminal, stream, days, batch_size=self.config.batch_size
                )
            # Steady state (today fully archived by the last run): paging may stop early.
            steady = covered is not None and covered == self.today()
            if ledger is None:
                refs = self._discover(target, days, steady, tools, result, held)
            else:
                refs, result.discovered = ledger, len(ledger)
                result.found_by["ledger"] = len(ledger)
            self._download(target, refs, tools, result, held)
            if self.config.retention_days and not self.stop.is_set():
                before = self.clock() - timedelta(days=self.config.retention_days)
                expire(self.db, self.store, terminal, stream, before)
        except GatecamError as exc:
            result.error = str(exc)
        except SQLAlchemyError as exc:
            metrics.database_error()
            result.error = f"database unavailable: {reason(exc)}"
        except Exception as exc:
            # The top of the job loop: whatever went wrong is recorded and the scheduler goes on.
            if self.stop.is_set():
                # Ctrl-C reaches the browser's driver too, which may die while it starts: the
                # stop's doing, not a crash, and no traceback for the user.
                logger.info("%s: stopped mid-run (%s)", target, type(exc).__name__)
            else:
                logger.exception("download job for %s crashed", target)
            result.error = f"unexpected error: {type(exc).__name__}: {one_line(str(exc))}"
        if self.stop.is_set() and (result.error or result.interrupted):
            # Ctrl-C also reaches the browser, so a failure during a stop is the stop's doing.
            result.interrupted, result.error = True, None
        if result.error:
            result.error = self.with_next_try(result.error)

    def _unindexed(self, target: Target, days: list[date], held: Collection[datetime]) -> bool:
        """Whether the store holds an image of the run's one day that has no row (what
        index_files would add).

        Compared as HHMMSS numbers: keys of today's folder differ in their time alone, and
        parsing each into a datetime took a good part of a 1,000-stream idle tick.
        """
        times = {t.hour * 10000 + t.minute * 100 + t.second for t in held if not t.microsecond}
        prefix = day_prefix(*target, days[0])
        # The key ends in HHMMSS.jpg (IMAGE_SUFFIX is four characters).
        return any(int(key[-10:-4]) not in times for key in self.store.keys(prefix))

    def with_next_try(self, error: str) -> str:
        upcoming = self._next_try()
        if upcoming is None:
            return error
        return f"{error}; next try at {upcoming.astimezone(UTC).isoformat(timespec='seconds')}"

    def days_to_list(self, covered: date | None, day: date | None) -> list[date]:
        """The site's UTC dates to list: those the local ``day`` spans, or today plus every
        date since ``covered``.

        A local day (midnight to midnight in ``config.timezone``) spans two UTC dates unless
        its zone is UTC; their images outside the day are archived too, as the same pages
        list them. ``covered`` is the UTC date of the last run that fully archived its own
        date. A scheduler that was down across midnight or for days catches up on what the
        source still shows.
        """
        if day is not None:
            return site_dates(day, day, self.config.zone, self.clock())
        today = self.today()
        # Never further back than retention would keep, nor than the source plausibly holds.
        horizon = min(MAX_CATCH_UP_DAYS, self.config.retention_days or MAX_CATCH_UP_DAYS)
        first = today if covered is None else max(covered, today - timedelta(days=horizon))
        return [first + timedelta(days=n) for n in range((today - first).days + 1)]

    def _discover(
        self,
        target: Target,
        days: list[date],
        steady: bool,
        tools: PassTools,
        result: RunResult,
        held: set[datetime] | None,
    ) -> set[ImageRef]:
        terminal, stream = target
        today = self.today()
        refs: set[ImageRef] = set()
        elsewhere: set[str] = set()
        started = time.monotonic()
        for day in days:
            if self.stop.is_set():
                result.interrupted = True
                break
            known: frozenset[datetime] = frozenset()
            if steady and day == today:
                # A paged list may stop where the archive already holds all; only once a run
                # left nothing of today failed or pending, which would sit on pages the list
                # no longer reaches.
                if held is not None:
                    known = frozenset(held)
                else:
                    with self.db.session_scope() as session:
                        known = queries.held_timestamps(session, terminal, stream, day)
            listing = tools.lister.list_images(terminal, stream, day, known=known)
            of_day = [ref for ref in listing.refs if ref.timestamp.date() == day]
            refs.update(of_day)
            if not known:
                # A whole day's listing: a missed image it no longer names stays missed.
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                with self.db.session_scope() as session:
                    missed.mark_unlisted(
                        session,
                        terminal,
                        stream,
                        start,
                        start + timedelta(days=1),
                        (r.timestamp for r in of_day),
                        self.clock(),
                    )
            elsewhere.update(listing.elsewhere)
            result.found_by.update(listing.found_by)
        metrics.discovery_finished(terminal, stream, time.monotonic() - started)
        result.discovered = len(refs)
        if not refs and not result.interrupted:
            self._check_empty(target, days, sorted(elsewhere), result)
        return refs

    def _check_empty(
        self, target: Target, days: list[date], elsewhere: list[str], result: RunResult
    ) -> None:
        """Raise DiscoveryError when an empty listing more likely means a wrong setting.

        The page shows the stream's images on another host (the site moved its CDN), or the
        stream never had an image (a mistyped name lists nothing, it is no error on the
        site) though its days are over or today is FIRST_IMAGE old. An empty day of a
        stream that had images before is just an empty day.
        """
        if elsewhere:
            # Listed, though not where gatecam may fetch them: none of them is stored.
            result.discovered = len(elsewhere)
            raise DiscoveryError(
                f"{len(elsewhere)} images of {target} are listed outside the configured CDN "
                f"{self.config.cdn_url}, e.g. {elsewhere[0]}: set --cdn-url / "
                "GATECAM_CDN_URL to where they are"
            )
        now = self.clock().astimezone(UTC)
        if set(days) == {now.date()} and now - _midnight(now) < FIRST_IMAGE:
            return  # today may just not have its first image yet
        with self.db.session_scope() as session:
            known = queries.ever_listed(session, *target)
        if not known:
            raise DiscoveryError(
                f"no images for {target}: check the stream name; `gatecam probe --stream {target}`"
            )

    def _download(
        self,
        target: Target,
        refs: set[ImageRef],
        tools: PassTools,
        result: RunResult,
        held: set[datetime] | None,
    ) -> None:
        terminal, stream = target
        if not refs or result.interrupted:
            return
        if held is not None:
            missing = sorted({r.timestamp for r in refs} - held)
        else:
            with self.db.session_scope() as session:
                missing = queries.missing_timestamps(
                    session, terminal, stream, (r.timestamp for r in refs)
                )
        for batch in chunked(missing, self.config.batch_size):
            if self.stop.is_set():
                result.interrupted = True
                break
            fetched = tools.downloader.download_images_direct(stream, batch, terminal=terminal)
            records = [image_record(image) for image in fetched.downloaded]
            misses = [
                missed.Miss(f.ref.timestamp, self.source.image_url(f.ref), f.reason)
                for f in fetched.failed
            ]
            if records or misses:
                # One transaction: an image is never both stored and in the ledger.
                with self.db.session_scope() as session:
                    result.downloaded += queries.insert_images(
                        session, records, batch_size=self.config.batch_size
                    )
                    missed.clear_stored(
                        session, terminal, stream, (r.timestamp for r in records if r.timestamp)
                    )
                    missed.record_misses(session, terminal, stream, misses, self.clock())
            result.failed += fetched.failed
            result.pending += len(fetched.pending)
            if self.stop.is_set():
                # The downloads the stop cut short are no failures of the site.
                result.interrupted = True
                break

    def finish(self, run_id: int, result: RunResult) -> None:
        error = result.reason
        try:
            with self.db.session_scope() as session:
                queries.finish_run(
                    session,
                    run_id,
                    status=result.status,
                    discovered=result.discovered,
                    downloaded=result.downloaded,
                    failed=len(result.failed),
                    pending=result.pending,
                    error=error,
                    found_by=result.found_by,
                )
        except SQLAlchemyError as exc:
            self.not_recorded(run_id, result, exc)

    def not_recorded(self, run_id: int, result: RunResult, exc: SQLAlchemyError) -> None:
        # Left "running": the next run of this stream records it as failed, with what it
        # did, once the database answers again.
        metrics.database_error()
        result.error = result.error or f"database unavailable: {reason(exc)}"
        self.unrecorded[Target(result.terminal, result.stream)] = (run_id, result)

    def record_cut_off(self, session: Session, run_id: int, result: RunResult) -> None:
        """Close a run whose end the database could not record: failed, with its counts."""
        why = result.error if (result.error or "").startswith("database unavailable") else None
        queries.finish_run(
            session,
            run_id,
            status="failed",
            discovered=result.discovered,
            downloaded=result.downloaded,
            failed=len(result.failed),
            pending=result.pending,
            error=why or CUT_OFF,
            found_by=result.found_by,
        )
