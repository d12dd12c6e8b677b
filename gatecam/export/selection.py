"""What an export holds: one stream's held images over a span, their gaps and health flags."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from gatecam.database import browse, frames
from gatecam.database.engine import Database
from gatecam.database.missed import MissedRecord, missed_images
from gatecam.database.models import Image
from gatecam.errors import InputError
from gatecam.health.coverage import CoverageGap, stream_coverage


@dataclass(frozen=True)
class Selection:
    """One stream's days ``first`` to ``last`` (included), midnight to midnight in ``zone``."""

    terminal: str
    stream: str
    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone).astimezone(UTC)

    @property
    def name(self) -> str:
        span = f"{self.first}" if self.first == self.last else f"{self.first}_{self.last}"
        return f"{self.terminal}-{self.stream}-{span}"


@dataclass(frozen=True)
class Item:
    """One image to export: its row's facts, and the camera health flag, if any."""

    id: int
    timestamp: datetime
    key: str
    size: int | None
    sha256: str | None
    flag: str | None


@dataclass(frozen=True)
class Contents:
    """The images of a selection, oldest first, every gap over 20 min between them, and the
    images the site listed that the archive missed (which end a gap, as in coverage)."""

    selection: Selection
    items: list[Item]
    gaps: list[CoverageGap]
    missed: list[MissedRecord] = field(default_factory=list)


def select_images(db: Database, selection: Selection, now: datetime | None = None) -> Contents:
    """The selection's held images (metadata only; bytes are read one by one as they go out).

    Raises InputError if the stream is not in the archive.
    """
    now = now or datetime.now(UTC)
    s = selection
    with db.read_scope() as session:
        if not browse.known(session, s.terminal, s.stream):
            raise InputError(f"{s.terminal}/{s.stream} is not in the archive")
        rows = session.execute(
            select(Image.id, Image.timestamp, Image.filepath, Image.file_size, Image.sha256)
            .where(
                Image.terminal == s.terminal,
                Image.camera_id == s.stream,
                Image.timestamp >= s.start,
                Image.timestamp < s.end,
                Image.missing_since.is_(None),
            )
            .order_by(Image.timestamp)
        ).all()
        _, found = frames.flags_between(session, s.terminal, s.stream, s.start, s.end)
        began = browse.archive_start(session, s.terminal, s.stream)
        lost = missed_images(session, s.start, s.end, [(s.terminal, s.stream)])
    items = [
        Item(r.id, r.timestamp, r.filepath, r.file_size, r.sha256, found.get(r.id)) for r in rows
    ]
    times = [i.timestamp for i in items]
    # The same gaps as `gatecam coverage`: none before the archive began or after now.
    cadence = timedelta(minutes=10)
    cov = stream_coverage(
        s.terminal, s.stream, times, began, s.start, s.end, now, cadence, lost=lost, zone=s.zone
    )
    return Contents(selection, items, cov.gaps, lost)


class Sink(io.RawIOBase):
    """A write-only, unseekable file that keeps what was written until it is taken.

    tarfile, zipfile and FFmpeg write into it; the export hands each piece on as soon as
    an image is in, so no more than one image is ever held.
    """

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data
