"""The download_runs table, and the stream counters each run moves as it starts and ends."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, case, func, select
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
