"""One pass of the pipeline: for each stream this instance claims, discover → download → store.

A pass opens at most one browser and one HTTP pool, whatever the number of streams and days.
Each (terminal, stream) is claimed in the database first, so several instances on one
PostgreSQL never run the same stream at once; holding the claim also proves that any run of
that stream still marked "running" was left by a process that died. What "now" is (today,
the first minutes of a day, the retention cutoff) comes from the job's clock, which it lends
to the lister and the downloader.

A scheduled pass (today and any missed days, every stream) books its runs in bulk
(tick.py); a backfill of given days and a retry of missed images run stream by stream
(stream_run.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime

from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import missed
from gatecam.database.engine import Database, reason
from gatecam.database.locks import claim, finished_since
from gatecam.downloader import metrics
from gatecam.downloader.results import INTERRUPTED, RunResult, one_line
from gatecam.downloader.stream_run import (
    FIRST_IMAGE,
    HOST,
    MAX_CATCH_UP_DAYS,
    StreamRunner,
    image_record,
)
from gatecam.downloader.tick import tick_pass
from gatecam.downloader.tools import PassTools
from gatecam.errors import GatecamError
from gatecam.model import Clock, ImageRef, Target, utc_now
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Source
from gatecam.storage import ImageStore

__all__ = [
    "FIRST_IMAGE",
    "HOST",
    "INTERRUPTED",
    "MAX_CATCH_UP_DAYS",
    "DownloadJob",
    "RunResult",
    "image_record",
    "one_line",
]

logger = logging.getLogger(__name__)


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
        self.clock = clock
        self.runner = StreamRunner(
            config, db, source, store, stop=self.stop, next_try=next_try, clock=clock
        )

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
                asked = [None if day is None else self.runner.days_to_list(None, day)]
            self._prefetch(tools, asked)
            if asked == [None]:
                results = tick_pass(self.runner, self.config.targets, tools, tick, on_result)
            else:
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

    def _prefetch(self, tools: PassTools, asked: list[list[date] | None]) -> None:
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

    def _tools(self, stack: ExitStack) -> PassTools:
        """The browser and HTTP pool of one pass, closed with ``stack``."""
        return PassTools(
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
        tools: PassTools,
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
                return self.runner.run(target, dates, tools, ledger=ledger)
        except (SQLAlchemyError, GatecamError) as exc:
            # The claim itself needs the database: one line, and the next tick tries again.
            metrics.database_error()
            result.error = self.runner.with_next_try(f"database unavailable: {reason(exc)}")
            result.days = [d.isoformat() for d in dates or self.runner.days_to_list(None, None)]
            return result
