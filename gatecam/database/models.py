"""Tables: archived images, download runs, and the counters that keep statistics O(1).

``camera_id`` is the stream's name (``in_gate``) in every table: ``Image(camera_id=...)`` is
public API and the column is indexed and keyed on it, so the name stays in the schema while
everything above the database says "stream".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "DiscoveryRecipe",
    "DownloadRun",
    "Image",
    "MinuteCount",
    "MissedImage",
    "StreamCounter",
    "UTCDateTime",
]

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite has no 64-bit autoincrement type; INTEGER PRIMARY KEY is already 64-bit there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no zone, so values are stored as naive UTC and the zone re-attached on read.
    A naive datetime is refused: guessing its zone is how local time creeps in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: gatecam stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Image(Base):
    """One archived image; ``camera_id`` is the stream name, ``timestamp`` the capture time."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("terminal", "camera_id", "timestamp"),
        UniqueConstraint("filepath"),
        # "Added in the last hour" per terminal (statistics), a range on created_at.
        Index("ix_images_terminal_created_at", "terminal", "created_at"),
        # /api/images without a stream pages in (timestamp, id) order across all streams:
        # each page is one step down this index, however deep, instead of a sort of the table.
        Index("ix_images_timestamp_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Relative to the download directory for archived images, so the archive can move.
    filepath: Mapped[str] = mapped_column(String(1024))
    file_size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by `gatecam verify --repair` when the file is gone; the row stays as a record.
    missing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Camera health (gatecam/camerahealth.py): a 64-bit dHash as 16 hex digits, and mean and
    # standard deviation of brightness (0-255). None for rows not measured yet (verify --rehash).
    dhash: Mapped[str | None] = mapped_column(String(16))
    brightness: Mapped[float | None] = mapped_column(Float)
    contrast: Mapped[float | None] = mapped_column(Float)


class DownloadRun(Base):
    """One download job for one stream: what it found, fetched and failed, and why."""

    __tablename__ = "download_runs"
    __table_args__ = (
        Index("ix_download_runs_stream", "terminal", "camera_id", "status", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # running | success | partial (some downloads failed) | failed | interrupted (the
    # process stopped before the run ended)
    status: Mapped[str] = mapped_column(String(16), default="running")
    # Which instance ran it and so whether a "running" row can still be alive.
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    # JSON object: discovery strategy -> images of the run's days it found.
    found_by: Mapped[str | None] = mapped_column(Text)
    days: Mapped[str] = mapped_column(String(255), default="")
    discovered: Mapped[int] = mapped_column(Integer, default=0)
    downloaded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class StreamCounter(Base):
    """Lifetime totals per stream, updated in the same transaction as the rows they count.

    They make the statistics independent of table size and survive retention deletes.
    """

    __tablename__ = "stream_counters"

    terminal: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    last_download: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_runs: Mapped[int] = mapped_column(Integer, default=0)
    successful_runs: Mapped[int] = mapped_column(Integer, default=0)
    failed_runs: Mapped[int] = mapped_column(Integer, default=0)
    interrupted_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    partial_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept by start_run and finish_run, so health, metrics and the page read one row per
    # stream instead of aggregating download_runs, which gains a row per stream every tick.
    # last_run_at is when the newest run started: health judges the streams that ran lately.
    first_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MinuteCount(Base):
    """Images added per stream and minute, so "last hour" and "last 24 h" read few rows."""

    __tablename__ = "minute_counts"

    # Key order (terminal, minute, camera_id): the windows are a range on minute per terminal.
    terminal: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class DiscoveryRecipe(Base):
    """How to list a terminal's cameras over plain HTTP, learned from the page in a browser.

    One per terminal, shared by every instance on the database. ``url_template`` and
    ``body_template`` hold ``{terminal}``, ``{stream}``, ``{day}`` and ``{page}`` markers.
    """

    __tablename__ = "discovery_recipes"

    terminal: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    url_template: Mapped[str] = mapped_column(Text)
    # JSON object of the request headers the page sent that replay must send too.
    headers: Mapped[str] = mapped_column(Text)
    body_template: Mapped[str | None] = mapped_column(Text)
    learned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a browser listing last agreed with replay; the hourly check starts from it.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # host:pid of the instance that learned it.
    learned_by: Mapped[str | None] = mapped_column(String(255))


class MissedImage(Base):
    """An image the site listed that is not stored: the archive's answer to "what did we miss?".

    A later successful download deletes the row. An image the site stops listing keeps its
    row, with ``unlisted_at`` set: it was published once, so it is missed, not a camera gap.
    """

    __tablename__ = "missed_images"

    terminal: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    first_attempt: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str] = mapped_column(Text)
    # When a listing of its day first no longer named it; None while the site still lists it.
    unlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
