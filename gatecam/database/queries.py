"""Every query gatecam runs: idempotent bulk inserts, statistics, pending timestamps, runs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from itertools import chain, islice
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    Connection,
    Insert,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from gatecam.database.models import (
    DownloadRun,
    Image,
    MinuteCount,
    StreamCounter,
    UTCDateTime,
    utcnow,
)

T = TypeVar("T")

RUN_STATUSES = frozenset({"success", "partial", "failed", "interrupted"})


class ImageRecord(NamedTuple):
    """The metadata of one image file, as the scheduler hands it to the database."""

    terminal: str
    camera_id: str
    filepath: str
    timestamp: datetime | None = None
    file_size: int | None = None
    sha256: str | None = None
    thumbnail: bool = False
    # Camera health figures (gatecam.camerahealth.Figures), when measured.
    dhash: str | None = None
    brightness: float | None = None
    contrast: float | None = None


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _insert(session: Session, table: Any) -> Any:
    # ON CONFLICT is dialect syntax; both dialects spell it the same way in SQLAlchemy.
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table)
    return stmt


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
_UTC_TYPE = UTCDateTime()


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


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


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
        else partial(_UTC_TYPE.process_bind_param, dialect=dialect)
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
    counters = _insert(session, StreamCounter.__table__)
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
    minute = _floor_minute(now)
    minutes = _insert(session, MinuteCount.__table__)
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


# The statistics' two statements are built once: constructing them cost more than running
# them (about 1 ms a call on SQLite against 0.3 ms of reads). Only the values bind per call.
_TERMINALS: BindParameter[list[str]] = bindparam("terminals", expanding=True)


def _partial_minute(start: str, edge: str) -> Any:
    return (
        select(func.count())
        .select_from(Image)
        .where(
            Image.terminal.in_(_TERMINALS),
            Image.created_at >= bindparam(start, type_=_UTC_TYPE),
            Image.created_at < bindparam(edge, type_=_UTC_TYPE),
        )
        .scalar_subquery()
    )


_WHOLE_MINUTES = (
    select(
        func.coalesce(
            func.sum(
                case(
                    (
                        MinuteCount.minute >= bindparam("hour_edge", type_=_UTC_TYPE),
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
        MinuteCount.minute >= bindparam("day_edge", type_=_UTC_TYPE),
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
            "hour_edge": _floor_minute(hour_start) + timedelta(minutes=1),
            "day_start": day_start,
            "day_edge": _floor_minute(day_start) + timedelta(minutes=1),
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


def get_stats(
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
    stmt = _insert(session, StreamCounter).values(
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


def interrupt_stale_runs(session: Session, terminal: str, camera_id: str) -> int:
    """Mark this stream's runs still "running" as interrupted; return how many.

    Called by the instance that holds the stream's job claim: no other process can be
    running the stream, so such a row was left by a process that died.
    """
    stale = session.scalars(
        select(DownloadRun.id).where(
            DownloadRun.terminal == terminal,
            DownloadRun.camera_id == camera_id,
            DownloadRun.status == "running",
        )
    ).all()
    for run_id in stale:
        finish_run(
            session,
            run_id,
            status="interrupted",
            discovered=0,
            downloaded=0,
            failed=0,
            pending=0,
            error="the process stopped before the run ended",
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
    stmt = _insert(session, StreamCounter).values(
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
