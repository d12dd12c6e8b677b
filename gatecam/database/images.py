"""The images table: idempotent bulk inserts, what is held and missing, retention deletes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from itertools import chain
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session

from gatecam.database.dialects import UTC_TYPE, floor_minute, insert_statement
from gatecam.database.models import Image, MinuteCount, StreamCounter, utcnow
from gatecam.model import ImageRecord, chunked

_IMAGE_COLUMNS = (
    "terminal",
    "camera_id",
    "filepath",
    "timestamp",
    "file_size",
    "sha256",
    "thumbnail",
    "created_at",
    "dhash",
    "brightness",
    "contrast",
)

# The scheduler's hot path (bench/persist.py) runs one plain-driver INSERT per batch, each
# spelled the fastest way its database takes it: SQLAlchemy's per-row parameter processing
# cost three times more on SQLite, and psycopg re-parses any statement with over 50
# parameters, so PostgreSQL gets one binary array per column (%b) instead of a VALUES list.
_PG_ARRAY_TYPES = (
    "text",
    "text",
    "text",
    "timestamptz",
    "integer",
    "text",
    "boolean",
    "timestamptz",
    "text",
    "float8",
    "float8",
)
_RETURNING = "ON CONFLICT DO NOTHING RETURNING terminal, camera_id"


@lru_cache(maxsize=16)
def _sqlite_insert_sql(rows: int) -> str:
    row = "(" + ", ".join("?" * len(_IMAGE_COLUMNS)) + ")"
    values = ", ".join([row] * rows)
    return (
        f"INSERT INTO images ({', '.join(_IMAGE_COLUMNS)}) VALUES {values} ON CONFLICT DO NOTHING"
    )


_POSTGRES_INSERT_SQL = (
    f"INSERT INTO images ({', '.join(_IMAGE_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'%b::{t}[]' for t in _PG_ARRAY_TYPES)}) {_RETURNING}"
)


def _insert_batches(
    connection: Connection, batches: list[list[tuple[Any, ...]]]
) -> Counter[tuple[str, str]]:
    """Insert each batch of rows (values in _IMAGE_COLUMNS order) in one statement.

    Returns how many rows were new per (terminal, camera_id).
    """
    if connection.dialect.name != "postgresql":
        return _sqlite_insert_batches(connection, batches)
    # The statements go out in one pipeline: the server's answer to one no longer waits for
    # the next to be sent, which was most of a 10,000-row save (a round trip per batch).
    if len(batches) == 1:
        columns = tuple(list(column) for column in zip(*batches[0], strict=True))
        return Counter(map(tuple, connection.exec_driver_sql(_POSTGRES_INSERT_SQL, columns)))
    driver = connection.connection.driver_connection
    assert driver is not None
    cursors = []
    with driver.pipeline():
        for rows in batches:
            columns = tuple(list(column) for column in zip(*rows, strict=True))
            cursor = driver.cursor()
            cursor.execute(_POSTGRES_INSERT_SQL, columns)
            cursors.append(cursor)
    new: Counter[tuple[str, str]] = Counter()
    for cursor in cursors:
        new.update(map(tuple, cursor.fetchall()))
        cursor.close()
    return new


def _sqlite_insert_batches(
    connection: Connection, batches: list[list[tuple[Any, ...]]]
) -> Counter[tuple[str, str]]:
    """SQLite's half of _insert_batches: without RETURNING, which cost a fifth of the insert.

    A writer holds SQLite's one write lock for its whole transaction and new rows take ids
    above the largest one, so the rows this call adds are those above the largest id found
    first. When every row was new (the job's case), their streams come from the rows.
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        before = cursor.execute("SELECT max(id) FROM images").fetchone()[0] or 0
        inserted = 0
        for rows in batches:
            cursor.execute(_sqlite_insert_sql(len(rows)), tuple(chain.from_iterable(rows)))
            inserted += cursor.rowcount
        if inserted == sum(len(rows) for rows in batches):
            return Counter((row[0], row[1]) for rows in batches for row in rows)
        cursor.execute(
            "SELECT terminal, camera_id, count(*) FROM images WHERE id > ?"
            " GROUP BY terminal, camera_id",
            (before,),
        )
        return Counter({(t, c): n for t, c, n in cursor.fetchall()})
    finally:
        cursor.close()


def _sqlite_time(value: datetime | None) -> str | None:
    """A datetime as UTCDateTime binds it on SQLite: SQLAlchemy's DATETIME text, in UTC.

    Run for every row of a save: cutting the "+00:00" off the UTC text cost half of
    dropping the zone first.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: gatecam stores aware UTC times only")
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def insert_images(
    session: Session, records: Sequence[ImageRecord], *, batch_size: int = 100
) -> int:
    """Insert the records not stored yet, ``batch_size`` per statement; return how many were new.

    A record already present (same stream and timestamp, or same file) is skipped by the
    database itself (ON CONFLICT DO NOTHING), so concurrent schedulers never duplicate a row
    and a retried batch never counts twice. Counters move in the same transaction.
    """
    connection = session.connection()
    dialect = connection.dialect
    # One created_at for the whole call, so the minute rollup matches the rows exactly.
    now = utcnow()
    bind_time: Callable[[datetime | None], Any] = (
        _sqlite_time
        if dialect.name == "sqlite"
        else partial(UTC_TYPE.process_bind_param, dialect=dialect)
    )
    created_at = bind_time(now)
    rows = [
        (
            r.terminal,
            r.camera_id,
            r.filepath,
            bind_time(r.timestamp),
            r.file_size,
            r.sha256,
            r.thumbnail,
            created_at,
            r.dhash,
            r.brightness,
            r.contrast,
        )
        for r in records
    ]
    added = _insert_batches(connection, list(chunked(rows, batch_size)))
    if added.total() < len(records):
        # A file found gone (verify --repair) and now stored again is no longer missing.
        for chunk in chunked([r.filepath for r in records], max(batch_size, 500)):
            session.execute(
                update(Image)
                .where(Image.missing_since.is_not(None), Image.filepath.in_(chunk))
                .values(missing_since=None)
            )
    if added:
        _bump_image_counters(session, added, now)
    return sum(added.values())


def _bump_image_counters(session: Session, new: Counter[tuple[str, str]], now: datetime) -> None:
    counters = insert_statement(session, StreamCounter.__table__)
    session.execute(
        counters.on_conflict_do_update(
            index_elements=["terminal", "camera_id"],
            set_={
                "total": StreamCounter.total + counters.excluded.total,
                "last_download": counters.excluded.last_download,
            },
        ),
        [
            {"terminal": t, "camera_id": c, "total": n, "last_download": now}
            for (t, c), n in new.items()
        ],
    )
    minute = floor_minute(now)
    minutes = insert_statement(session, MinuteCount.__table__)
    session.execute(
        minutes.on_conflict_do_update(
            index_elements=["terminal", "minute", "camera_id"],
            set_={"count": MinuteCount.count + minutes.excluded.count},
        ),
        [
            {"terminal": t, "camera_id": c, "minute": minute, "count": n}
            for (t, c), n in new.items()
        ],
    )


def insert_image(
    session: Session,
    filepath: str,
    camera_id: str,
    timestamp: datetime | None = None,
    file_size: int | None = None,
    *,
    terminal: str = "apm",
    sha256: str | None = None,
    thumbnail: bool = False,
) -> int | None:
    """Insert one image; return its new id, or None if it was already stored.

    The one-row path of the original plan; the job stores whole batches with insert_images.
    """
    record = ImageRecord(terminal, camera_id, filepath, timestamp, file_size, sha256, thumbnail)
    if not insert_images(session, [record]):
        return None
    return session.scalar(select(Image.id).where(Image.filepath == filepath))


def missing_timestamps(
    session: Session, terminal: str, camera_id: str, timestamps: Iterable[datetime]
) -> list[datetime]:
    """The timestamps of this stream not archived yet (or whose file is gone), oldest first."""
    wanted = sorted(set(timestamps))
    held: set[datetime] = set()
    for chunk in chunked(wanted, 500):
        held.update(
            ts
            for ts in session.scalars(
                select(Image.timestamp).where(
                    Image.terminal == terminal,
                    Image.camera_id == camera_id,
                    Image.timestamp.in_(chunk),
                    Image.missing_since.is_(None),
                )
            )
            if ts is not None
        )
    return [ts for ts in wanted if ts not in held]


def expired_images(
    session: Session, terminal: str, camera_id: str, before: datetime, *, limit: int = 1000
) -> list[tuple[int, str]]:
    """(id, filepath) of up to ``limit`` images of this stream captured before ``before``."""
    rows = session.execute(
        select(Image.id, Image.filepath)
        .where(Image.terminal == terminal, Image.camera_id == camera_id, Image.timestamp < before)
        .limit(limit)
    )
    return [(row.id, row.filepath) for row in rows]


def delete_images(session: Session, ids: Sequence[int]) -> None:
    """Delete image rows; lifetime counters are left as they are (retention is not loss)."""
    session.execute(delete(Image).where(Image.id.in_(ids)))


def held_timestamps(
    session: Session, terminal: str, camera_id: str, day: date
) -> frozenset[datetime]:
    """The capture times of this stream's archived images on the UTC ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = session.scalars(
        select(Image.timestamp).where(
            Image.terminal == terminal,
            Image.camera_id == camera_id,
            Image.timestamp >= start,
            Image.timestamp < start + timedelta(days=1),
            Image.missing_since.is_(None),
        )
    )
    return frozenset(ts for ts in rows if ts is not None)
