"""The images table: idempotent bulk inserts, what is held and missing, retention deletes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gatecam.database.dialects import floor_minute, insert_statement
from gatecam.database.models import Image, MinuteCount, StreamCounter, utcnow
from gatecam.model import ImageRecord, chunked

# The record's own fields, in ImageRecord's order: a record is a tuple of exactly these, so a
# batch goes to the driver as it is, with only the capture time converted, and created_at
# (one value per call) is bound once per statement.
_RECORD_COLUMNS = ImageRecord._fields
_COLUMN_LIST = ", ".join(_RECORD_COLUMNS)
_TIMESTAMP = _RECORD_COLUMNS.index("timestamp")
_WIDTH = len(_RECORD_COLUMNS)
_STREAM = itemgetter(0, 1)

# The scheduler's hot path (bench/persist.py, bench/peers.py) runs on the plain driver,
# spelled the fastest way its database takes it: SQLAlchemy's per-row parameter processing
# cost three times more on SQLite, and on PostgreSQL the rows go in by COPY (psycopg writes
# them in C) to a temporary table, from which one INSERT ... SELECT skips those stored.
_PG_STAGE = "gatecam_images_in"
_PG_STAGE_TYPES = {
    "terminal": "text",
    "camera_id": "text",
    "filepath": "text",
    "timestamp": "timestamptz",
    "file_size": "integer",
    "sha256": "text",
    "thumbnail": "boolean",
    "dhash": "text",
    "brightness": "float8",
    "contrast": "float8",
}
assert tuple(_PG_STAGE_TYPES) == _RECORD_COLUMNS
# ON COMMIT DELETE ROWS: the table outlives the transaction on its pooled connection, its
# rows do not. The INSERT empties it as it reads, for a second call in the same transaction.
_PG_CREATE_STAGE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_STAGE} "
    f"({', '.join(f'{c} {t}' for c, t in _PG_STAGE_TYPES.items())}) ON COMMIT DELETE ROWS"
)
# Text, not binary: the server parses each value for its column and refuses one out of range,
# where psycopg's binary dumpers wrote 2**40 into an integer column as 0.
_PG_COPY = f"COPY {_PG_STAGE} ({_COLUMN_LIST}) FROM STDIN"
_PG_COPY_DIRECT = f"COPY images ({_COLUMN_LIST}, created_at) FROM STDIN"
_UNIQUE_VIOLATION = "23505"
# New rows per stream, counted by the server: a save's every new row need not come back.
_PG_MOVE = (
    f"WITH staged AS (DELETE FROM {_PG_STAGE} RETURNING *),"
    f" new AS (INSERT INTO images ({_COLUMN_LIST}, created_at)"
    f" SELECT {_COLUMN_LIST}, %s FROM staged ON CONFLICT DO NOTHING"
    " RETURNING terminal, camera_id)"
    " SELECT terminal, camera_id, count(*) FROM new GROUP BY terminal, camera_id"
)


@lru_cache(maxsize=16)
def _sqlite_insert_sql(rows: int) -> str:
    # ?1 is created_at, shared by every row; row r's own values are ?(2 + r * width)...
    values = ", ".join(
        "(" + ", ".join(f"?{2 + r * _WIDTH + i}" for i in range(_WIDTH)) + ", ?1)"
        for r in range(rows)
    )
    return f"INSERT INTO images ({_COLUMN_LIST}, created_at) VALUES {values} ON CONFLICT DO NOTHING"


def _postgres_insert(
    connection: Connection, records: Sequence[ImageRecord], created_at: datetime
) -> Counter[tuple[str, str]]:
    """COPY the records to the staging table, then move the new ones; new rows per stream."""
    for record in records:
        if record.timestamp is not None and record.timestamp.tzinfo is None:
            _refuse_naive(record.timestamp)
    driver = connection.connection.driver_connection
    assert driver is not None
    # The job asked what is missing before it downloaded, so a batch is nearly always all new:
    # it goes straight into images, as fast as COPY goes. A row stored meanwhile (another
    # instance, a retried batch) fails the whole COPY on a unique index; the savepoint undoes
    # it and the staging table below skips the stored rows.
    with _as_sqlalchemy_error(connection, _PG_COPY_DIRECT), driver.cursor() as cursor:
        # A plain SAVEPOINT: psycopg's transaction() would COMMIT, not nest, when this is
        # the session's first statement.
        cursor.execute("SAVEPOINT gatecam_copy")
        try:
            with cursor.copy(_PG_COPY_DIRECT) as copy:
                for record in records:
                    copy.write_row((*record, created_at))
        except driver.Error as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT gatecam_copy")
            if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
        else:
            cursor.execute("RELEASE SAVEPOINT gatecam_copy")
            return Counter(map(_STREAM, records))
    connection.exec_driver_sql(_PG_CREATE_STAGE)
    with (
        _as_sqlalchemy_error(connection, _PG_COPY),
        driver.cursor() as cursor,
        cursor.copy(_PG_COPY) as copy,
    ):
        for record in records:
            copy.write_row(record)
    moved = connection.exec_driver_sql(_PG_MOVE, (created_at,))
    return Counter({(t, c): n for t, c, n in moved})


@contextmanager
def _as_sqlalchemy_error(connection: Connection, statement: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's, which callers turn into one-line messages."""
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        yield
    except driver_error as exc:
        raise DBAPIError.instance(statement, None, exc, driver_error) from None


def _sqlite_insert(
    connection: Connection, records: Sequence[ImageRecord], created_at: str, batch_size: int
) -> Counter[tuple[str, str]]:
    """Insert ``batch_size`` records per statement, without RETURNING (a fifth of the cost).

    A writer holds SQLite's one write lock for its whole transaction and new rows take ids
    above the largest one, so the rows this call adds are those above the largest id found
    first. When every row was new (the job's case), their streams come from the records.
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    with _as_sqlalchemy_error(connection, "INSERT INTO images"), closing(driver.cursor()) as cursor:
        before = cursor.execute("SELECT max(id) FROM images").fetchone()[0] or 0
        inserted = 0
        for batch in chunked(records, batch_size):
            params: list[Any] = [created_at, *chain.from_iterable(batch)]
            times = params[1 + _TIMESTAMP :: _WIDTH]
            params[1 + _TIMESTAMP :: _WIDTH] = [_sqlite_time(t) for t in times]
            cursor.execute(_sqlite_insert_sql(len(batch)), params)
            inserted += cursor.rowcount
        if inserted == len(records):
            return Counter(map(_STREAM, records))
        cursor.execute(
            "SELECT terminal, camera_id, count(*) FROM images WHERE id > ?"
            " GROUP BY terminal, camera_id",
            (before,),
        )
        return Counter({(t, c): n for t, c, n in cursor.fetchall()})


def _refuse_naive(value: datetime) -> None:
    raise ValueError(f"naive datetime {value!r}: gatecam stores aware UTC times only")


def _sqlite_time(value: datetime | None) -> str | None:
    """A datetime as UTCDateTime binds it on SQLite: SQLAlchemy's DATETIME text, in UTC.

    Run for every row of a save: a time already in UTC (the job's) is formatted as it is,
    and the "+00:00" cut off the text rather than the zone dropped first.
    """
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            _refuse_naive(value)
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def insert_images(
    session: Session, records: Sequence[ImageRecord], *, batch_size: int = 100
) -> int:
    """Insert the records not stored yet, ``batch_size`` per statement; return how many were new.

    A record already present (same stream and timestamp, or same file) is skipped by the
    database itself (ON CONFLICT DO NOTHING), so concurrent schedulers never duplicate a row
    and a retried batch never counts twice. Counters move in the same transaction.
    """
    if not records:
        return 0
    connection = session.connection()
    # One created_at for the whole call, so the minute rollup matches the rows exactly.
    now = utcnow()
    if connection.dialect.name == "postgresql":
        # One COPY whatever the batch size: the server takes the rows as one stream.
        added = _postgres_insert(connection, records, now)
    else:
        added = _sqlite_insert(connection, records, _sqlite_time(now) or "", batch_size)
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
    return added.total()


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

    The public one-row path; the job stores whole batches with insert_images.
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


def held_times(
    session: Session, streams: Collection[tuple[str, str]], start: datetime, end: datetime
) -> dict[tuple[str, str], set[datetime]]:
    """The capture times of these streams' archived images in [start, end), by stream.

    One query for a whole tick: what ``missing_timestamps`` and ``held_timestamps`` tell of
    one stream, for all of them. Every stream asked has its entry, empty if it holds none.
    """
    held: dict[tuple[str, str], set[datetime]] = {stream: set() for stream in streams}
    if not held:
        return held
    # On the connection: the ORM's row loading cost more than the query for 100,000 rows.
    rows = session.connection().execute(
        select(Image.terminal, Image.camera_id, Image.timestamp).where(
            Image.timestamp >= start,
            Image.timestamp < end,
            Image.terminal.in_(sorted({t for t, _ in held})),
            Image.camera_id.in_(sorted({c for _, c in held})),
            Image.missing_since.is_(None),
        )
    )
    for terminal, camera_id, ts in rows.all():  # one fetchall, not a fetchone per row
        times = held.get((terminal, camera_id))
        if times is not None and ts is not None:
            times.add(ts)
    return held
