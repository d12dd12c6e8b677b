"""The ledger of missed images: listed by the site, not stored, and why.

Without it a failed download looks exactly like the camera being off: the run counted the
failure and its reason, then forgot which image it was. A row lives from the first failed
attempt until the image is stored; an image the site stops listing keeps its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gatecam.database.models import MissedImage
from gatecam.database.queries import chunked

# Bound parameters per statement stay well under SQLite's limit (32,766) and PostgreSQL's.
_CHUNK = 500


@dataclass(frozen=True)
class Miss:
    """One failed attempt at one listed image."""

    timestamp: datetime
    url: str
    reason: str


@dataclass(frozen=True)
class MissedRecord:
    """One image of the ledger, as the archive reports it."""

    terminal: str
    stream: str
    timestamp: datetime
    url: str
    first_attempt: datetime
    last_attempt: datetime
    attempts: int
    reason: str
    unlisted_at: datetime | None


def record_misses(
    session: Session, terminal: str, stream: str, misses: Sequence[Miss], now: datetime
) -> None:
    """Add failed attempts: a new row per image, or one more attempt on its existing row."""
    if not misses:
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for chunk in chunked(misses, _CHUNK):
        rows = [
            {
                "terminal": terminal,
                "camera_id": stream,
                "timestamp": miss.timestamp,
                "url": miss.url,
                "first_attempt": now,
                "last_attempt": now,
                "attempts": 1,
                "reason": miss.reason,
                "unlisted_at": None,
            }
            for miss in {m.timestamp: m for m in chunk}.values()
        ]
        stmt = module.insert(MissedImage).values(rows)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["terminal", "camera_id", "timestamp"],
                set_={
                    "url": stmt.excluded.url,
                    "last_attempt": stmt.excluded.last_attempt,
                    "attempts": MissedImage.attempts + 1,
                    "reason": stmt.excluded.reason,
                    "unlisted_at": None,
                },
            )
        )


def clear_stored(
    session: Session, terminal: str, stream: str, timestamps: Iterable[datetime]
) -> int:
    """Drop the rows of images now stored; returns how many were in the ledger."""
    cleared = 0
    for chunk in chunked(sorted(set(timestamps)), _CHUNK):
        result = session.execute(
            delete(MissedImage).where(
                MissedImage.terminal == terminal,
                MissedImage.camera_id == stream,
                MissedImage.timestamp.in_(chunk),
            )
        )
        cleared += result.rowcount or 0  # type: ignore[attr-defined]
    return cleared


def mark_unlisted(
    session: Session,
    terminal: str,
    stream: str,
    start: datetime,
    end: datetime,
    listed: Iterable[datetime],
    now: datetime,
) -> None:
    """Note the missed images in [start, end) that a complete listing of it no longer names."""
    named = set(listed)
    gone = [
        ts
        for ts in session.scalars(
            select(MissedImage.timestamp).where(
                MissedImage.terminal == terminal,
                MissedImage.camera_id == stream,
                MissedImage.timestamp >= start,
                MissedImage.timestamp < end,
                MissedImage.unlisted_at.is_(None),
            )
        )
        if ts not in named
    ]
    for chunk in chunked(gone, _CHUNK):
        session.execute(
            update(MissedImage)
            .where(
                MissedImage.terminal == terminal,
                MissedImage.camera_id == stream,
                MissedImage.timestamp.in_(chunk),
            )
            .values(unlisted_at=now)
        )


def missed_images(
    session: Session,
    start: datetime,
    end: datetime,
    streams: Sequence[tuple[str, str]] | None = None,
) -> list[MissedRecord]:
    """The ledger's images captured in [start, end), of ``streams`` (None: all), oldest first."""
    query = select(MissedImage).where(MissedImage.timestamp >= start, MissedImage.timestamp < end)
    if streams is not None:
        if not streams:
            return []
        query = query.where(tuple_(MissedImage.terminal, MissedImage.camera_id).in_(streams))
    rows = session.scalars(query.order_by(MissedImage.timestamp, MissedImage.camera_id))
    return [_record(row) for row in rows]


def missed_counts(session: Session) -> dict[tuple[str, str], int]:
    """How many images each stream misses now, for health and the metric."""
    query = select(MissedImage.terminal, MissedImage.camera_id, func.count()).group_by(
        MissedImage.terminal, MissedImage.camera_id
    )
    return {(terminal, stream): count for terminal, stream, count in session.execute(query)}


def _record(row: MissedImage) -> MissedRecord:
    return MissedRecord(
        terminal=row.terminal,
        stream=row.camera_id,
        timestamp=row.timestamp,
        url=row.url,
        first_attempt=row.first_attempt,
        last_attempt=row.last_attempt,
        attempts=row.attempts,
        reason=row.reason,
        unlisted_at=row.unlisted_at,
    )
