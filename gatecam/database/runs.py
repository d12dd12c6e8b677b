"""The download_runs table, and the stream counters each run moves as it starts and ends."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from gatecam.database.dialects import insert_statement
from gatecam.database.models import DownloadRun, StreamCounter, utcnow

RUN_STATUSES = frozenset({"success", "partial", "failed", "interrupted"})
# The reason of a run whose end the database could not record while its process lived on.
CUT_OFF = "database unavailable: the run's end could not be recorded"
_RUNS: Table = DownloadRun.__table__  # type: ignore[assignment]


def start_run(
    session: Session,
    terminal: str,
    camera_id: str,
    days: Sequence[str] = (),
    *,
    host: str | None = None,
    pid: int | None = None,
    at: datetime | None = None,
) -> int:
    """Record a run of this stream as started (``at``, default now); return its id."""
    now = at or utcnow()
    run = DownloadRun(
        terminal=terminal,
        camera_id=camera_id,
        started_at=now,
        days=",".join(days),
        host=host,
        pid=pid,
    )
    session.add(run)
    session.flush()
    stmt = insert_statement(session, StreamCounter).values(
        terminal=terminal, camera_id=camera_id, total=0, first_run_at=now, last_run_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["terminal", "camera_id"],
            set_={
                "first_run_at": func.coalesce(
                    StreamCounter.first_run_at, stmt.excluded.first_run_at
                ),
                "last_run_at": stmt.excluded.last_run_at,
            },
        )
    )
    return run.id


def interrupt_stale_runs(
    session: Session,
    terminal: str,
    camera_id: str,
    *,
    host: str | None = None,
    pid: int | None = None,
) -> int:
    """Close this stream's runs still "running"; return how many.

    Called by the instance that holds the stream's job claim: no other process can be
    running the stream. A row left by another process was cut off by that process's end:
    interrupted. A row left by this very process (``host`` and ``pid``) was cut off while the
    process lived on, by the database failing to record its end: failed.
    """
    stale = session.execute(
        select(DownloadRun.id, DownloadRun.host, DownloadRun.pid).where(
            DownloadRun.terminal == terminal,
            DownloadRun.camera_id == camera_id,
            DownloadRun.status == "running",
        )
    ).all()
    for run_id, run_host, run_pid in stale:
        ours = host is not None and (run_host, run_pid) == (host, pid)
        finish_run(
            session,
            run_id,
            status="failed" if ours else "interrupted",
            discovered=0,
            downloaded=0,
            failed=0,
            pending=0,
            error=CUT_OFF if ours else "the process stopped before the run ended",
        )
    return len(stale)


def finish_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    discovered: int,
    downloaded: int,
    failed: int,
    pending: int,
    error: str | None,
    found_by: Mapping[str, int] | None = None,
    at: datetime | None = None,
) -> None:
    """Close a run (success, partial, failed or interrupted) and move its stream's counters.

    ``error`` is the reason of a partial or failed run, so that ``last_error`` says why
    images are missing. An interrupted run is no failure of the site or the archive: it is
    counted apart and never becomes ``last_error``.
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    run = session.get_one(DownloadRun, run_id)
    now = at or utcnow()
    run.finished_at = now
    run.status = status
    run.discovered, run.downloaded, run.failed, run.pending = (
        discovered,
        downloaded,
        failed,
        pending,
    )
    run.error = error
    run.found_by = json.dumps(dict(found_by), sort_keys=True) if found_by else None
    if status == "interrupted":
        error = None
    stmt = insert_statement(session, StreamCounter).values(
        terminal=run.terminal,
        camera_id=run.camera_id,
        total=0,
        total_runs=1,
        successful_runs=int(status == "success"),
        partial_runs=int(status == "partial"),
        failed_runs=int(status == "failed"),
        interrupted_runs=int(status == "interrupted"),
        failed_downloads=failed,
        last_error=error,
        last_error_at=now if error else None,
        first_run_at=run.started_at,
        last_run_at=run.started_at,
        last_success_at=now if status == "success" else None,
    )
    updates: dict[str, Any] = {
        "total_runs": StreamCounter.total_runs + 1,
        "successful_runs": StreamCounter.successful_runs + stmt.excluded.successful_runs,
        "partial_runs": StreamCounter.partial_runs + stmt.excluded.partial_runs,
        "failed_runs": StreamCounter.failed_runs + stmt.excluded.failed_runs,
        "interrupted_runs": StreamCounter.interrupted_runs + stmt.excluded.interrupted_runs,
        "failed_downloads": StreamCounter.failed_downloads + failed,
        "last_run_at": stmt.excluded.last_run_at,
    }
    if error:
        updates |= {"last_error": error, "last_error_at": now}
    if status == "success":
        # The newest end wins, whatever order runs of one stream finish in.
        newer = StreamCounter.last_success_at >= stmt.excluded.last_success_at
        updates["last_success_at"] = case(
            (newer, StreamCounter.last_success_at), else_=stmt.excluded.last_success_at
        )
    session.execute(
        stmt.on_conflict_do_update(index_elements=["terminal", "camera_id"], set_=updates)
    )


def ever_listed(session: Session, terminal: str, camera_id: str) -> bool:
    """Whether the stream ever had an image: archived, or listed by any of its runs."""
    if session.scalar(
        select(StreamCounter.total).where(
            StreamCounter.terminal == terminal, StreamCounter.camera_id == camera_id
        )
    ):
        return True
    listed = select(DownloadRun.id).where(
        DownloadRun.terminal == terminal,
        DownloadRun.camera_id == camera_id,
        DownloadRun.discovered > 0,
    )
    return session.scalar(listed.limit(1)) is not None


def last_covered_day(session: Session, terminal: str, camera_id: str) -> date | None:
    """The day of the newest run that fully archived the day it ran on.

    A backfill of an old day succeeds too, but says nothing about the days since, so only
    runs that covered their own day count; and a run that left failed or
    not-yet-published images does not count, so their day is listed again until they are in.
    """
    runs = session.execute(
        select(DownloadRun.started_at, DownloadRun.days)
        .where(
            DownloadRun.terminal == terminal,
            DownloadRun.camera_id == camera_id,
            DownloadRun.status == "success",
            DownloadRun.failed == 0,
            DownloadRun.pending == 0,
        )
        .order_by(DownloadRun.started_at.desc())
        .limit(50)
    )
    for started_at, days in runs:
        if started_at.date().isoformat() in days.split(","):
            return started_at.date()
    return None


# -- a whole tick's bookkeeping, a statement each ---------------------------------------------


@dataclass(frozen=True)
class RunEnd:
    """How one run ended: what ``finish_runs`` records for it."""

    run_id: int
    terminal: str
    camera_id: str
    started_at: datetime
    status: str
    discovered: int = 0
    downloaded: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None
    found_by: Mapping[str, int] | None = None


def _streams_where(streams: Collection[tuple[str, str]]) -> list[ColumnElement[bool]]:
    # Both IN lists lead the (terminal, camera_id, status, started_at) index: one seek per
    # pair. The cross product may name pairs not asked for; callers keep only theirs.
    return [
        DownloadRun.terminal.in_(sorted({t for t, _ in streams})),
        DownloadRun.camera_id.in_(sorted({c for _, c in streams})),
    ]


def start_runs(
    session: Session,
    streams: Sequence[tuple[str, str]],
    days: Mapping[tuple[str, str], Sequence[str]],
    *,
    host: str | None = None,
    pid: int | None = None,
    at: datetime | None = None,
) -> dict[tuple[str, str], tuple[int, datetime]]:
    """``start_run`` for many streams at once: their run ids and start, by stream."""
    if not streams:
        return {}
    now = at or utcnow()
    rows = [
        {
            "terminal": t,
            "camera_id": c,
            "started_at": now,
            "days": ",".join(days[t, c]),
            "host": host,
            "pid": pid,
            "status": "running",
        }
        for t, c in streams
    ]
    # An executemany without RETURNING (SQLAlchemy sends that row by row on SQLite), then
    # the ids by stream: while this instance holds their claims, no one else starts a run of
    # these streams, so the "running" rows they have at ``now`` are these.
    session.execute(insert(_RUNS), rows)
    returned = session.execute(
        select(DownloadRun.terminal, DownloadRun.camera_id, DownloadRun.id).where(
            *_streams_where(streams),
            DownloadRun.status == "running",
            DownloadRun.started_at == now,
        )
    )
    ids = {(t, c): run_id for t, c, run_id in returned}
    stmt = insert_statement(session, StreamCounter.__table__)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["terminal", "camera_id"],
            set_={
                "first_run_at": func.coalesce(
                    StreamCounter.first_run_at, stmt.excluded.first_run_at
                ),
                "last_run_at": stmt.excluded.last_run_at,
            },
        ),
        [
            {"terminal": t, "camera_id": c, "total": 0, "first_run_at": now, "last_run_at": now}
            for t, c in streams
        ],
    )
    return {stream: (ids[stream], now) for stream in streams}


def finish_runs(session: Session, ends: Sequence[RunEnd], *, at: datetime | None = None) -> None:
    """``finish_run`` for many runs at once: one UPDATE and one counter upsert for all."""
    if not ends:
        return
    for end in ends:
        if end.status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {end.status!r}")
    now = at or utcnow()
    session.execute(
        update(_RUNS)
        .where(_RUNS.c.id == bindparam("run_id"))
        .values(
            finished_at=now,
            status=bindparam("new_status"),
            discovered=bindparam("new_discovered"),
            downloaded=bindparam("new_downloaded"),
            failed=bindparam("new_failed"),
            pending=bindparam("new_pending"),
            error=bindparam("new_error"),
            found_by=bindparam("new_found_by"),
        ),
        [
            {
                "run_id": e.run_id,
                "new_status": e.status,
                "new_discovered": e.discovered,
                "new_downloaded": e.downloaded,
                "new_failed": e.failed,
                "new_pending": e.pending,
                "new_error": e.error,
                "new_found_by": json.dumps(dict(e.found_by), sort_keys=True)
                if e.found_by
                else None,
            }
            for e in ends
        ],
    )
    stmt = insert_statement(session, StreamCounter.__table__)
    new = stmt.excluded
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["terminal", "camera_id"],
            set_={
                "total_runs": StreamCounter.total_runs + 1,
                "successful_runs": StreamCounter.successful_runs + new.successful_runs,
                "partial_runs": StreamCounter.partial_runs + new.partial_runs,
                "failed_runs": StreamCounter.failed_runs + new.failed_runs,
                "interrupted_runs": StreamCounter.interrupted_runs + new.interrupted_runs,
                "failed_downloads": StreamCounter.failed_downloads + new.failed_downloads,
                "last_run_at": new.last_run_at,
                # An interrupted run or a success leaves the last error as it was.
                "last_error": func.coalesce(new.last_error, StreamCounter.last_error),
                "last_error_at": func.coalesce(new.last_error_at, StreamCounter.last_error_at),
                # The newest end wins, whatever order runs of one stream finish in.
                "last_success_at": case(
                    (new.last_success_at.is_(None), StreamCounter.last_success_at),
                    (
                        StreamCounter.last_success_at >= new.last_success_at,
                        StreamCounter.last_success_at,
                    ),
                    else_=new.last_success_at,
                ),
            },
        ),
        [_counter_row(end, now) for end in ends],
    )


def _counter_row(end: RunEnd, now: datetime) -> dict[str, Any]:
    error = None if end.status == "interrupted" else end.error
    return {
        "terminal": end.terminal,
        "camera_id": end.camera_id,
        "total": 0,
        "total_runs": 1,
        "successful_runs": int(end.status == "success"),
        "partial_runs": int(end.status == "partial"),
        "failed_runs": int(end.status == "failed"),
        "interrupted_runs": int(end.status == "interrupted"),
        "failed_downloads": end.failed,
        "last_error": error,
        "last_error_at": now if error else None,
        "first_run_at": end.started_at,
        "last_run_at": end.started_at,
        "last_success_at": now if end.status == "success" else None,
    }


def running_streams(session: Session, streams: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these streams have a run still marked "running" (``interrupt_stale_runs``)."""
    if not streams:
        return set()
    rows = session.execute(
        select(DownloadRun.terminal, DownloadRun.camera_id)
        .where(*_streams_where(streams), DownloadRun.status == "running")
        .distinct()
    )
    return {(t, c) for t, c in rows} & set(streams)


def finished_since_many(
    session: Session, streams: Collection[tuple[str, str]], since: datetime
) -> set[tuple[str, str]]:
    """Which of these streams have a run started at or after ``since`` that has ended."""
    if not streams:
        return set()
    rows = session.execute(
        select(DownloadRun.terminal, DownloadRun.camera_id)
        .where(
            *_streams_where(streams),
            DownloadRun.status.in_(("success", "failed")),
            DownloadRun.started_at >= since,
        )
        .distinct()
    )
    return {(t, c) for t, c in rows} & set(streams)


def covered_today(
    session: Session, streams: Collection[tuple[str, str]], today: date
) -> set[tuple[str, str]]:
    """Which of these streams have ``last_covered_day`` == ``today``, in one query.

    A run that started today and lists today among its days is the newest kind there is,
    so a stream with one has covered today; the others ask ``last_covered_day``.
    """
    if not streams:
        return set()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    rows = session.execute(
        select(DownloadRun.terminal, DownloadRun.camera_id)
        .where(
            *_streams_where(streams),
            DownloadRun.status == "success",
            DownloadRun.started_at >= midnight,
            DownloadRun.started_at < midnight + timedelta(days=1),
            DownloadRun.failed == 0,
            DownloadRun.pending == 0,
            DownloadRun.days.contains(today.isoformat()),
        )
        .distinct()
    )
    return {(t, c) for t, c in rows} & set(streams)
