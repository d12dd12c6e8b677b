"""The statistics `gatecam stats` prints, read from the database as one typed value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from gatecam.database.dialects import UTC_TYPE, floor_minute
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


# The statistics' two statements are built once: constructing them cost more than running
# them (about 1 ms a call on SQLite against 0.3 ms of reads). Only the values bind per call.
_TERMINALS: BindParameter[list[str]] = bindparam("terminals", expanding=True)


def _partial_minute(start: str, edge: str) -> Any:
    return (
        select(func.count())
        .select_from(Image)
        .where(
            Image.terminal.in_(_TERMINALS),
            Image.created_at >= bindparam(start, type_=UTC_TYPE),
            Image.created_at < bindparam(edge, type_=UTC_TYPE),
        )
        .scalar_subquery()
    )


_WHOLE_MINUTES = (
    select(
        func.coalesce(
            func.sum(
                case(
                    (
                        MinuteCount.minute >= bindparam("hour_edge", type_=UTC_TYPE),
                        MinuteCount.count,
                    ),
                    else_=0,
                )
            ),
            0,
        ),
        func.coalesce(func.sum(MinuteCount.count), 0),
    )
    .where(
        MinuteCount.terminal.in_(_TERMINALS),
        MinuteCount.minute >= bindparam("day_edge", type_=UTC_TYPE),
    )
    .subquery()
)
_ADDED = select(
    *_WHOLE_MINUTES.c,
    _partial_minute("hour_start", "hour_edge"),
    _partial_minute("day_start", "day_edge"),
)


def _added(session: Session, terminals: Sequence[str], now: datetime) -> tuple[int, int]:
    """Images added in the last hour and the last 24 hours, in one statement.

    Whole minutes come from the per-minute rollup, both windows summed in one pass over at
    most 24 hours of it; the partial first minute of each window is counted exactly, each
    as one range of ix_images_terminal_created_at (an OR of both ranges in one WHERE had
    SQLite scan the table; the terminals are named, even all of them, so that the range
    has the index's first column). One round trip: on a busy server each one costs more
    than the reads themselves.
    """
    if not terminals:
        return 0, 0
    hour_start, day_start = now - timedelta(hours=1), now - timedelta(hours=24)
    row: Sequence[Any] = session.execute(
        _ADDED,
        {
            "terminals": list(terminals),
            "hour_start": hour_start,
            "hour_edge": floor_minute(hour_start) + timedelta(minutes=1),
            "day_start": day_start,
            "day_edge": floor_minute(day_start) + timedelta(minutes=1),
        },
    ).one()
    whole_hour, whole_day, part_hour, part_day = row
    return int(whole_hour) + int(part_hour), int(whole_day) + int(part_day)


def terminals(session: Session) -> list[str]:
    """Every terminal that has run a job or holds an image (a few counter rows)."""
    return sorted(set(session.scalars(select(StreamCounter.terminal))))


# Plain rows of the columns used, not ORM objects: this is called on every /api/stats and
# the identity map cost more than the read itself.
_COUNTERS = select(
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
_TERMINAL_COUNTERS = _COUNTERS.where(StreamCounter.terminal == bindparam("terminal"))


def _stats(
    session: Session, terminal: str | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The statistics `gatecam stats` prints, in a few indexed reads.

    ``terminal`` None covers every terminal; ``downloads_by_stream`` is keyed by stream name
    when one terminal is covered and by ``terminal/stream`` when several are.
    """
    now = now or datetime.now(UTC)
    if terminal is None:
        counters = session.execute(_COUNTERS).all()
    else:
        counters = session.execute(_TERMINAL_COUNTERS, {"terminal": terminal}).all()
    covered = sorted({r.terminal for r in counters})
    by_stream = {
        (r.camera_id if len(covered) == 1 else f"{r.terminal}/{r.camera_id}"): r.total
        for r in counters
        if r.total
    }
    downloads = [r.last_download for r in counters if r.last_download]
    errors = [r for r in counters if r.last_error_at]
    last_error = max(errors, key=lambda r: r.last_error_at or now).last_error if errors else None
    last_hour, last_24h = _added(session, covered, now)
    return {
        "total_downloaded": sum(r.total for r in counters),
        "downloads_by_stream": by_stream,
        "last_hour": last_hour,
        "last_24h": last_24h,
        "last_download": max(downloads) if downloads else None,
        "total_runs": sum(r.total_runs for r in counters),
        "successful_runs": sum(r.successful_runs for r in counters),
        "partial_runs": sum(r.partial_runs for r in counters),
        "failed_runs": sum(r.failed_runs for r in counters),
        "interrupted_runs": sum(r.interrupted_runs for r in counters),
        "failed_downloads": sum(r.failed_downloads for r in counters),
        "last_error": last_error,
    }


def get_stats(
    session: Session, terminal: str | None = None, *, now: datetime | None = None
) -> DownloadStats:
    """The statistics of ``terminal`` (None: every terminal), in a few indexed reads.

    ``downloads_by_stream`` is keyed by stream name when one terminal is covered and by
    ``terminal/stream`` when several are.
    """
    return DownloadStats(**_stats(session, terminal, now=now))
