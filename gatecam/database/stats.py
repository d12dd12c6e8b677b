"""The statistics `gatecam stats` prints, read from the database as one typed value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Executable,
    Row,
    bindparam,
    case,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from gatecam.database.dialects import UTC_TYPE, floor_minute
from gatecam.database.engine import Database
from gatecam.database.models import Image, MinuteCount, StreamCounter


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
    partial_runs: int = 0
    failed_runs: int = 0
    interrupted_runs: int = 0
    failed_downloads: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``last_download`` as ISO 8601 with its UTC offset."""
        data = dict(vars(self))
        data["downloads_by_stream"] = dict(self.downloads_by_stream)
        data["last_download"] = self.last_download.isoformat() if self.last_download else None
        return data


@dataclass(frozen=True)
class StreamError:
    """A stream's newest failed or partial run's reason, when it ended, and the stream's
    newest successful run's end (None if none)."""

    terminal: str
    stream: str
    error: str
    at: datetime
    last_success: datetime | None

    @property
    def current(self) -> bool:
        """No run of the stream has succeeded since: the error still says what is wrong."""
        return self.last_success is None or self.last_success < self.at


def stream_errors(session: Session) -> dict[tuple[str, str], StreamError]:
    """Per stream that ever had an error: its newest one (one counter row per stream)."""
    rows = session.execute(
        select(
            StreamCounter.terminal,
            StreamCounter.camera_id,
            StreamCounter.last_error,
            StreamCounter.last_error_at,
            StreamCounter.last_success_at,
        ).where(StreamCounter.last_error_at.is_not(None), StreamCounter.last_error.is_not(None))
    )
    return {
        (terminal, stream): StreamError(terminal, stream, error, at, success)
        for terminal, stream, error, at, success in rows
        if error is not None and at is not None
    }


# The statistics are one statement, built once: constructing it cost more than running it,
# and each statement's round trip (and each ORM session around it) cost more than the reads.
_TERMINAL: BindParameter[str] = bindparam("terminal")
_EDGE_NAMES = ("hour_start", "hour_edge", "day_start", "day_edge")
# Plain rows of the columns used, not ORM objects: this is called on every /api/stats and
# the identity map cost more than the read itself.
_COUNTER_COLUMNS = (
    StreamCounter.terminal,
    StreamCounter.camera_id,
    StreamCounter.total,
    StreamCounter.last_download,
    StreamCounter.total_runs,
    StreamCounter.successful_runs,
    StreamCounter.partial_runs,
    StreamCounter.failed_runs,
    StreamCounter.interrupted_runs,
    StreamCounter.failed_downloads,
    StreamCounter.last_error,
    StreamCounter.last_error_at,
)
_EDGES = {name: bindparam(name, type_=UTC_TYPE) for name in _EDGE_NAMES}


def _statement(one_terminal: bool) -> Executable:
    """The counters of each covered stream, every row carrying the windows' four parts.

    Whole minutes come from the per-minute rollup, both windows summed in one pass over at
    most 24 hours of it; the partial first minute of each window is counted exactly, each
    as one range of ix_images_terminal_created_at (an OR of both ranges in one WHERE had
    SQLite scan the table). The terminals are always named, by value or as those holding
    counters, so that each range has the index's first column.
    """
    covered = select(StreamCounter.terminal).distinct().scalar_subquery()

    def of_terminal(column: Any) -> Any:
        return column == _TERMINAL if one_terminal else column.in_(covered)

    def partial_minute(start: str, edge: str) -> Any:
        return (
            select(func.count())
            .select_from(Image)
            .where(
                of_terminal(Image.terminal),
                Image.created_at >= _EDGES[start],
                Image.created_at < _EDGES[edge],
            )
            .scalar_subquery()
        )

    zero: Any = literal_column("0")
    in_hour = case((MinuteCount.minute >= _EDGES["hour_edge"], MinuteCount.count), else_=zero)
    whole = (
        select(
            func.coalesce(func.sum(in_hour), zero).label("whole_hour"),
            func.coalesce(func.sum(MinuteCount.count), zero).label("whole_day"),
        )
        .where(of_terminal(MinuteCount.terminal), MinuteCount.minute >= _EDGES["day_edge"])
        .subquery()
    )
    statement = (
        select(
            *_COUNTER_COLUMNS,
            whole.c.whole_hour,
            whole.c.whole_day,
            partial_minute("hour_start", "hour_edge").label("part_hour"),
            partial_minute("day_start", "day_edge").label("part_day"),
        )
        .select_from(StreamCounter)
        .join(whole, true())
    )
    return statement.where(StreamCounter.terminal == _TERMINAL) if one_terminal else statement


def terminals(session: Session) -> list[str]:
    """Every terminal that has run a job or holds an image (a few counter rows)."""
    return sorted(set(session.scalars(select(StreamCounter.terminal))))


_STATS = {True: _statement(True), False: _statement(False)}


def stats_query(
    terminal: str | None = None, *, now: datetime | None = None
) -> tuple[Executable, dict[str, Any]]:
    """The statement of ``get_stats`` and its parameters, for any connection to run."""
    now = now or datetime.now(UTC)
    hour_start, day_start = now - timedelta(hours=1), now - timedelta(hours=24)
    parameters = {
        "terminal": terminal,
        "hour_start": hour_start,
        "hour_edge": floor_minute(hour_start) + timedelta(minutes=1),
        "day_start": day_start,
        "day_edge": floor_minute(day_start) + timedelta(minutes=1),
    }
    return _STATS[terminal is not None], parameters


def stats_from_rows(rows: Sequence[Row[Any]]) -> DownloadStats:
    """What the rows of ``stats_query`` say, summed up."""
    if not rows:
        return DownloadStats()
    several = len({r.terminal for r in rows}) > 1
    downloads = [r.last_download for r in rows if r.last_download]
    errors = [r for r in rows if r.last_error_at]
    first = rows[0]
    return DownloadStats(
        total_downloaded=sum(r.total for r in rows),
        downloads_by_stream={
            (f"{r.terminal}/{r.camera_id}" if several else r.camera_id): r.total
            for r in rows
            if r.total
        },
        last_hour=int(first.whole_hour) + int(first.part_hour),
        last_24h=int(first.whole_day) + int(first.part_day),
        last_download=max(downloads) if downloads else None,
        total_runs=sum(r.total_runs for r in rows),
        successful_runs=sum(r.successful_runs for r in rows),
        partial_runs=sum(r.partial_runs for r in rows),
        failed_runs=sum(r.failed_runs for r in rows),
        interrupted_runs=sum(r.interrupted_runs for r in rows),
        failed_downloads=sum(r.failed_downloads for r in rows),
        last_error=max(errors, key=_error_time).last_error if errors else None,
    )


def _error_time(row: Row[Any]) -> datetime:
    when: datetime = row.last_error_at
    return when


def get_stats(
    source: Session | Connection, terminal: str | None = None, *, now: datetime | None = None
) -> DownloadStats:
    """The statistics of ``terminal`` (None: every terminal), in one indexed statement.

    ``source`` is a session or a plain connection (the cheaper, for a lone read: see
    ``read_stats``). ``downloads_by_stream`` is keyed by stream name when one terminal is
    covered and by ``terminal/stream`` when several are.
    """
    statement, parameters = stats_query(terminal, now=now)
    return stats_from_rows(source.execute(statement, parameters).all())


def read_stats(
    db: Database, terminal: str | None = None, *, now: datetime | None = None
) -> DownloadStats:
    """``get_stats`` as one read outside any session: what the scheduler and the web app ask.

    Its single statement reads one snapshot by itself; the ORM session around it (begin,
    two executes, rollback) cost more than the read.
    """
    statement, parameters = stats_query(terminal, now=now)
    return stats_from_rows(db.read_rows(statement, parameters))
