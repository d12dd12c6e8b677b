"""One pass of the pipeline: for each stream this instance claims, discover → download → store.

A pass opens at most one browser and one HTTP pool, whatever the number of streams and days.
Each (terminal, stream) is claimed in the database first, so several instances on one
PostgreSQL never run the same stream at once; holding the claim also proves that any run of
that stream still marked "running" was left by a process that died. What "now" is (today,
the first minutes of a day, the retention cutoff) comes from the job's clock, which it lends
to the lister and the downloader.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gatecam.database import missed, queries
from gatecam.database.engine import Database, reason
from gatecam.database.locks import claim, finished_since
from gatecam.database.queries import ImageRecord, chunked
from gatecam.database.recipes import RecipeStore
from gatecam.database.runs import CUT_OFF
from gatecam.days import site_dates
from gatecam.downloader import metrics
from gatecam.downloader.fetch import CdnDownloader, DownloadedImage, FailedDownload
from gatecam.errors import DiscoveryError, GatecamError
from gatecam.model import Clock, ImageRef, Target, utc_now
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Lister, ListingTools, RecipeBook, Source
from gatecam.storage import ImageStore
from gatecam.upkeep.reconcile import expire, index_files

logger = logging.getLogger(__name__)

# How far back a restarted scheduler looks for days it missed.
MAX_CATCH_UP_DAYS = 14
HOST = socket.gethostname()
INTERRUPTED = "stopped before the run ended (Ctrl-C or SIGTERM)"
# A UTC day's first image may come this late: one every 8 to 12 minutes, and now and then
# an hour without one. Before that, an empty today says nothing.
FIRST_IMAGE = timedelta(minutes=90)


@dataclass
class RunResult:
    """What one job did for one stream."""

    terminal: str
    stream: str
    days: list[str] = field(default_factory=list)
    discovered: int = 0
    downloaded: int = 0
    pending: int = 0
    failed: list[FailedDownload] = field(default_factory=list)
    error: str | None = None
    interrupted: bool = False
    # Another instance holds this stream's job for this tick: nothing was done here.
    skipped: bool = False
    found_by: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def status(self) -> str:
        """What the run stored: every listed image (or it is not published yet) is success.

        Some downloads failed: partial. The listing failed, or none of the images it had to
        fetch was stored: failed. A stop request: interrupted, whatever was stored.
        """
        if self.interrupted:
            return "interrupted"
        if self.error is not None or (self.failed and not self.downloaded):
            return "failed"
        return "partial" if self.failed else "success"

    @property
    def reason(self) -> str | None:
        """Why the run is not a success, in one line; None for a success."""
        if self.interrupted:
            return INTERRUPTED
        if self.error is not None:
            return self.error
        if not self.failed:
            return None
        first = self.failed[0]
        failed = (
            f"{len(self.failed)} downloads failed, first at "
            f"{first.ref.timestamp.isoformat()}: {first.reason}"
        )
        if not self.downloaded:
            return f"none of the {len(self.failed)} new images stored: {failed}"
        return f"{failed} ({self.downloaded} stored)"

    def summary(self) -> str:
        """One line for logs and the CLI."""
        name = f"{self.terminal}/{self.stream}"
        if self.skipped:
            return f"{name}: skipped, another gatecam instance runs this stream's job this tick"
        text = (
            f"{name} {','.join(self.days)}: {self.discovered} listed, "
            f"{self.downloaded} stored, {len(self.failed)} failed, {self.pending} not published yet"
        )
        if self.interrupted:
            return f"{text}; {INTERRUPTED}"
        if self.error:
            return f"{text}; error: {self.error}"
        if self.failed:
            return f"{text}; {self.status}: {self.reason}"
        return text


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line and at most ``limit`` characters: a run's reason is one line."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


class _PassTools:
    """The browser and the HTTP pool of one pass, each opened on first use only."""

    def __init__(
        self,
        stack: ExitStack,
        source: Source,
        store: ImageStore,
        concurrency: int,
        db: Database,
        clock: Clock,
        stop: threading.Event,
    ):
        self._stop = stop
        self._stack, self._source, self._store, self._concurrency = (
            stack,
            source,
            store,
            concurrency,
        )
        self._db = db
        self._clock = clock
        self._lister: Lister | None = None
        self._downloader: CdnDownloader | None = None

    @property
    def lister(self) -> Lister:
        if self._lister is None:
            # The source's lister may borrow the download pool; Dray Dog's replays learned
            # requests over it and opens a browser only when a listing needs one.
            recipes: RecipeBook = RecipeStore(self._db)
            tools = ListingTools(
                recipes=recipes,
                client=lambda: self.downloader.client,
                workers=self._concurrency,
                clock=self._clock,
            )
            self._lister = self._stack.enter_context(self._source.lister(tools))
        return self._lister

    def prefetch(self, wanted: list[tuple[str, str, date]]) -> None:
        """Let the lister ask these listings ahead, all at once if it can."""
        self.lister.prefetch(wanted)

    @property
    def downloader(self) -> CdnDownloader:
        if self._downloader is None:
            self._downloader = self._stack.enter_context(
                CdnDownloader(
                    self._store,
                    source=self._source,
                    concurrency=self._concurrency,
                    clock=self._clock,
                    stop=self._stop,
                )
            )
        return self._downloader


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


class DownloadJob:
    """Runs passes for ``config.targets`` against one database, source and image store.

    ``clock`` says what time it is (aware UTC); tests pass a fixed one.
    """

    def __init__(
        self,
        config: DownloadConfig,
        db: Database,
        source: Source,
        store: ImageStore,
        *,
        stop: threading.Event | None = None,
        next_try: Callable[[], datetime | None] = lambda: None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.db = db
        self.source = source
        self.store = store
        self.stop = stop or threading.Event()
        self._next_try = next_try
        self.clock = clock
        # Runs whose end the database could not record, by stream, until it answers again.
        self._unrecorded: dict[Target, tuple[int, RunResult]] = {}

    def run(
        self,
        day: date | None = None,
        *,
        days: Sequence[date] = (),
        tick: datetime | None = None,
        on_result: Callable[[RunResult], None] = lambda _: None,
    ) -> list[RunResult]:
        """One pass over every target, for the local ``day`` (default: today's UTC date and
        any missed ones).

        ``days`` runs one run per target and UTC date of the site instead (a backfill over
        the dates local days span, see gatecam.days.site_dates), sharing one browser.
        ``tick`` is the scheduled slot: a stream whose run another instance already finished
        since then is skipped, so each stream runs once per tick across instances.
        ``on_result`` hears of each run as it ends.
        """
        results: list[RunResult] = []
        with ExitStack() as stack:
            tools = self._tools(stack)
            # Each run's UTC dates; None: today's and any the stream missed.
            asked: list[list[date] | None]
            if days:
                asked = [[one] for one in days]
            else:
                asked = [None if day is None else self._days_to_list(None, day)]
            today = self.clock().astimezone(UTC).date()
            try:
                tools.prefetch(
                    [
                        (t.terminal, t.stream, one)
                        for t in self.config.targets
                        for dates in asked
                        for one in dates or [today]
                    ]
                )
            except SQLAlchemyError as exc:
                # Only a head start (it reads the learned recipes): with the database gone,
                # each run below fails on its own, in one line, instead of the whole tick.
                logger.debug("prefetch skipped: database unavailable: %s", reason(exc))
            except Exception:
                # A head start too: whatever broke it (an answer of the site no parser
                # survived, say), each run below lists again and fails alone if it must.
                logger.exception("prefetch of the tick's listings failed; each run lists alone")
            for target in self.config.targets:
                for dates in asked:
                    if self.stop.is_set():
                        return results
                    results.append(self._claimed_run(target, dates, tools, tick))
                    on_result(results[-1])
            if tick is not None:
                # A stream skipped because another instance held it is looked at once more:
                # if that instance died mid-job, its claim is gone and the tick is still due.
                for n, result in enumerate(results):
                    if result.skipped and not self.stop.is_set():
                        target = Target(result.terminal, result.stream)
                        results[n] = self._claimed_run(target, asked[0], tools, tick)
        return results

    def _tools(self, stack: ExitStack) -> _PassTools:
        """The browser and HTTP pool of one pass, closed with ``stack``."""
        return _PassTools(
            stack,
            self.source,
            self.store,
            self.config.concurrency,
            self.db,
            self.clock,
            self.stop,
        )

    def retry_missed(
        self, on_result: Callable[[RunResult], None] = lambda _: None
    ) -> list[RunResult]:
        """Try again now every image of the ledger of missed images, stream by stream.

        No listing: the ledger names the images. A stream with nothing missed has no run.
        """
        results: list[RunResult] = []
        far = datetime(2000, 1, 1, tzinfo=UTC)
        with ExitStack() as stack:
            tools = self._tools(stack)
            for target in self.config.targets:
                if self.stop.is_set():
                    break
                with self.db.session_scope() as session:
                    ledger = missed.missed_images(session, far, far.replace(year=2200), [target])
                if not ledger:
                    continue
                dates = sorted({m.timestamp.date() for m in ledger})
                refs = {ImageRef(target.terminal, target.stream, m.timestamp) for m in ledger}
                results.append(self._claimed_run(target, dates, tools, None, ledger=refs))
                on_result(results[-1])
        return results

    def _claimed_run(
        self,
        target: Target,
        dates: list[date] | None,
        tools: _PassTools,
        tick: datetime | None,
        *,
        ledger: set[ImageRef] | None = None,
    ) -> RunResult:
        result = RunResult(target.terminal, target.stream)
        try:
            with claim(self.db, target.terminal, target.stream) as mine:
                done = tick is not None and mine and finished_since(self.db, *target, tick)
                if not mine or done:
                    result.skipped = True
                    return result
                return self._run(target, dates, tools, ledger=ledger)
        except (SQLAlchemyError, GatecamError) as exc:
            # The claim itself needs the database: one line, and the next tick tries again.
            metrics.database_error()
            result.error = self._with_next_try(f"database unavailable: {reason(exc)}")
            result.days = [d.isoformat() for d in dates or self._days_to_list(None, None)]
            return result

    def _run(
        self,
        target: Target,
        dates: list[date] | None,
        tools: _PassTools,
        *,
        ledger: set[ImageRef] | None = None,
    ) -> RunResult:
        """One run of one stream: list its dates (or take ``ledger``'s images), download."""
        terminal, stream = target
        result = RunResult(terminal, stream)
        started = time.monotonic()
        try:
            left = self._unrecorded.get(target)
            with self.db.session_scope() as session:
                if left is not None:
                    self._record_cut_off(session, *left)
                stale = queries.interrupt_stale_runs(
                    session, terminal, stream, host=HOST, pid=os.getpid()
                )
                covered = None if dates else queries.last_covered_day(session, *target)
                days = dates or self._days_to_list(covered, None)
                result.days = [d.isoformat() for d in days]
                run_id = queries.start_run(
                    session, terminal, stream, result.days, host=HOST, pid=os.getpid()
                )
        except SQLAlchemyError as exc:
            # The files of a job cut short get their rows next time (index_files).
            metrics.database_error()
            result.error = self._with_next_try(f"database unavailable: {reason(exc)}")
            # The log line names the day it could not archive, not an empty one.
            result.days = result.days or [
                d.isoformat() for d in dates or self._days_to_list(None, None)
            ]
            return result
        self._unrecorded.pop(target, None)
        if stale:
            logger.info(
                "%s: marked %d run(s) left by a stopped process as interrupted", target, stale
            )
        try:
            # Files written while the database was away get their rows now: stored by this run.
            result.downloaded += index_files(
                self.db, self.store, terminal, stream, days, batch_size=self.config.batch_size
            )
            # Steady state (today fully archived by the last run): paging may stop early.
            steady = covered is not None and covered == self.clock().astimezone(UTC).date()
            if ledger is None:
                refs = self._discover(target, days, steady, tools, result)
            else:
                refs, result.discovered = ledger, len(ledger)
                result.found_by["ledger"] = len(ledger)
            self._download(target, refs, tools, result)
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
            result.error = self._with_next_try(result.error)
        self._finish(run_id, result)
        metrics.run_finished(terminal, stream, time.monotonic() - started, result.ok)
        return result

    def _with_next_try(self, error: str) -> str:
        upcoming = self._next_try()
        if upcoming is None:
            return error
        return f"{error}; next try at {upcoming.astimezone(UTC).isoformat(timespec='seconds')}"

    def _days_to_list(self, covered: date | None, day: date | None) -> list[date]:
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
        today = self.clock().astimezone(UTC).date()
        # Never further back than retention would keep, nor than the source plausibly holds.
        horizon = min(MAX_CATCH_UP_DAYS, self.config.retention_days or MAX_CATCH_UP_DAYS)
        first = today if covered is None else max(covered, today - timedelta(days=horizon))
        return [first + timedelta(days=n) for n in range((today - first).days + 1)]

    def _discover(
        self, target: Target, days: list[date], steady: bool, tools: _PassTools, result: RunResult
    ) -> set[ImageRef]:
        terminal, stream = target
        today = self.clock().astimezone(UTC).date()
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
        self, target: Target, refs: set[ImageRef], tools: _PassTools, result: RunResult
    ) -> None:
        terminal, stream = target
        if not refs or result.interrupted:
            return
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

    def _finish(self, run_id: int, result: RunResult) -> None:
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
            # Left "running": the next run of this stream records it as failed, with what it
            # did, once the database answers again.
            metrics.database_error()
            result.error = result.error or f"database unavailable: {reason(exc)}"
            self._unrecorded[Target(result.terminal, result.stream)] = (run_id, result)

    def _record_cut_off(self, session: Session, run_id: int, result: RunResult) -> None:
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
