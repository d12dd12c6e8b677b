"""A whole tick's runs, booked in bulk: one statement each to start, end and look them up.

The scheduled tick works on hundreds of streams at once; the one-run functions of runs.py
cost five transactions a stream.
"""

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
from gatecam.database.runs import RUN_STATUSES

_RUNS: Table = DownloadRun.__table__  # type: ignore[assignment]


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
