"""A scheduled tick over many streams, its bookkeeping in bulk.

Per group of streams, a statement each: claim them (one round trip on PostgreSQL), find
those another instance already ran this tick and those with runs left "running", start
every run (one INSERT), read what the archive holds of today for all of them (one SELECT),
and end every run (one UPDATE and one counter upsert). In between each stream is listed and
compared with what is held; a stream with something new downloads it on its own run path,
as a run on its own does (stream_run.py). An idle tick of 1,000 streams thus costs a few
statements and one listing per stream, instead of a dozen transactions per stream.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import images, queries, tick_runs
from gatecam.database.engine import reason
from gatecam.database.locks import claim_many
from gatecam.downloader import metrics
from gatecam.downloader.results import RunResult
from gatecam.downloader.stream_run import HOST, StreamRunner
from gatecam.downloader.tools import PassTools
from gatecam.errors import GatecamError
from gatecam.model import Target

logger = logging.getLogger(__name__)

# Streams claimed and booked together: bounds the lock files held open at once (SQLite)
# and what a group's bookkeeping keeps in memory, whatever the number of streams.
GROUP = 250


class _Started:
    """The runs of one group that the bookkeeping started: their ids, days and coverage."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], tuple[int, datetime]] = {}
        self.days: dict[Target, list[date]] = {}
        self.covered: dict[Target, date | None] = {}


def tick_pass(
    runner: StreamRunner,
    targets: Sequence[Target],
    tools: PassTools,
    tick: datetime | None,
    on_result: Callable[[RunResult], None],
) -> list[RunResult]:
    """One run per target (today and any missed days), the runs booked a group at a time."""
    results: list[RunResult] = []
    for first in range(0, len(targets), GROUP):
        if runner.stop.is_set():
            break
        group = list(targets[first : first + GROUP])
        for result in _group(runner, group, tools, tick):
            results.append(result)
            on_result(result)
    return results


def _unavailable(runner: StreamRunner, target: Target, exc: Exception) -> RunResult:
    metrics.database_error()
    result = RunResult(*target)
    result.error = runner.with_next_try(f"database unavailable: {reason(exc)}")
    result.days = [d.isoformat() for d in runner.days_to_list(None, None)]
    return result


def _group(
    runner: StreamRunner, group: list[Target], tools: PassTools, tick: datetime | None
) -> list[RunResult]:
    try:
        with claim_many(runner.db, group) as claimed:
            return _claimed_group(runner, group, claimed, tools, tick)
    except (SQLAlchemyError, GatecamError) as exc:
        # The claims themselves need the database: one line each, the next tick tries again.
        return [_unavailable(runner, target, exc) for target in group]


def _claimed_group(
    runner: StreamRunner,
    group: list[Target],
    claimed: set[tuple[str, str]],
    tools: PassTools,
    tick: datetime | None,
) -> list[RunResult]:
    by_target = {target: RunResult(*target) for target in group}
    todo = [target for target in group if target in claimed]
    try:
        started = _start(runner, todo, tick)
    except SQLAlchemyError as exc:
        # The files of a job cut short get their rows next time (index_files).
        return [
            _unavailable(runner, t, exc) if t in claimed else _skipped(by_target[t]) for t in group
        ]
    today = runner.today()
    same_day = [t for t in todo if t in started.runs and started.days[t] == [today]]
    held: dict[tuple[str, str], set[datetime]] = {}
    try:
        midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
        with runner.db.session_scope() as session:
            held = images.held_times(session, same_day, midnight, midnight + timedelta(days=1))
    except SQLAlchemyError as exc:
        # Each run asks again on its own, and fails alone if it must.
        logger.debug("the tick's held images unread: %s", reason(exc))
    ends: list[tuple[Target, RunResult, float]] = []
    for target in todo:
        if target not in started.runs:
            continue
        result = by_target[target]
        result.days = [d.isoformat() for d in started.days[target]]
        if runner.stop.is_set():
            # Started with the group, never reached: recorded as the stop left it.
            result.interrupted = True
            ends.append((target, result, 0.0))
            continue
        begun = time.monotonic()
        covered = started.covered[target]
        runner.work(target, started.days[target], covered, tools, result, held=held.get(target))
        ends.append((target, result, time.monotonic() - begun))
    _finish(runner, started, ends)
    for target in group:
        if target not in claimed or target not in started.runs:
            _skipped(by_target[target])
    return [by_target[target] for target in group]


def _skipped(result: RunResult) -> RunResult:
    result.skipped = True
    return result


def _start(runner: StreamRunner, todo: list[Target], tick: datetime | None) -> _Started:
    """Close what dead runs left, find the days of each stream, start every run: one transaction."""
    started = _Started()
    today = runner.today()
    with runner.db.session_scope() as session:
        for target in todo:
            left = runner.unrecorded.get(target)
            if left is not None:
                runner.record_cut_off(session, *left)
        if tick is not None:
            # Each stream runs once a tick across instances: one another has run is done.
            done = tick_runs.finished_since_many(session, todo, tick)
            todo = [target for target in todo if target not in done]
        for stream in tick_runs.running_streams(session, todo):
            # Rare: a run left "running" by a process that died, or by this one when the
            # database failed to record its end.
            stale = queries.interrupt_stale_runs(session, *stream, host=HOST, pid=os.getpid())
            logger.info(
                "%s/%s: marked %d run(s) left by a stopped process as interrupted", *stream, stale
            )
        fresh = tick_runs.covered_today(session, todo, today)
        for target in todo:
            covered = today if target in fresh else queries.last_covered_day(session, *target)
            started.covered[target] = covered
            started.days[target] = runner.days_to_list(covered, None)
        started.runs = tick_runs.start_runs(
            session,
            todo,
            {t: [d.isoformat() for d in started.days[t]] for t in todo},
            host=HOST,
            pid=os.getpid(),
        )
    for target in todo:
        runner.unrecorded.pop(target, None)
    return started


def _finish(
    runner: StreamRunner, started: _Started, ends: list[tuple[Target, RunResult, float]]
) -> None:
    """End every run of the group at once, then count them in the metrics."""
    if not ends:
        return
    try:
        with runner.db.session_scope() as session:
            tick_runs.finish_runs(
                session,
                [
                    tick_runs.RunEnd(
                        run_id=started.runs[target][0],
                        terminal=target.terminal,
                        camera_id=target.stream,
                        started_at=started.runs[target][1],
                        status=result.status,
                        discovered=result.discovered,
                        downloaded=result.downloaded,
                        failed=len(result.failed),
                        pending=result.pending,
                        error=result.reason,
                        found_by=result.found_by,
                    )
                    for target, result, _ in ends
                ],
            )
    except SQLAlchemyError as exc:
        for target, result, _ in ends:
            runner.not_recorded(started.runs[target][0], result, exc)
    for target, result, seconds in ends:
        metrics.run_finished(*target, seconds, result.ok)
