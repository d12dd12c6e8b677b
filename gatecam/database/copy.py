"""Copy an archive's rows into another database (SQLite to PostgreSQL), resumably, in batches.

Every table of the models' metadata is copied in dependency order, each in primary-key order
with one transaction per batch, so what the target holds of a table is always a prefix of the
source's: after an interruption the copy resumes above the highest key the target holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, Connection, String, Table, func, select, text, tuple_
from sqlalchemy.dialects import sqlite

from gatecam.database import queries
from gatecam.database.engine import Database, redact
from gatecam.database.migrate import require_current, upgrade
from gatecam.database.models import Base
from gatecam.errors import GatecamError, InputError

Row = Mapping[str, Any]
# Called with a table and a batch of its rows before the batch is committed to the target.
BeforeInsert = Callable[[Table, Sequence[Row]], None]
# Called with a table's name, the rows copied so far and the source's row count.
OnProgress = Callable[[str, int, int], None]

DEFAULT_BATCH_SIZE = 5000


@dataclass
class CopyReport:
    """Rows per table: how many the source holds and how many this call copied."""

    source_rows: dict[str, int] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"{name}: {total} rows ({self.copied.get(name, 0)} copied now)"
            for name, total in self.source_rows.items()
        ]


def tables() -> list[Table]:
    """Every table gatecam keeps, parents before children."""
    return list(Base.metadata.sorted_tables)


def _key_columns(table: Table, dialect: str) -> list[Any]:
    # Both ends must order text the same way for the high-water mark to mean the same row:
    # SQLite compares bytes, so PostgreSQL is asked for its byte order ("C") too.
    columns: list[Any] = []
    for column in table.primary_key.columns:
        if dialect == "postgresql" and isinstance(column.type, String):
            columns.append(column.collate("C"))
        else:
            columns.append(column)
    return columns


def _count(conn: Connection, table: Table) -> int:
    return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def _high_water(conn: Connection, table: Table) -> tuple[Any, ...] | None:
    """The largest primary key the database holds in ``table``, or None if it is empty."""
    keys = _key_columns(table, conn.dialect.name)
    row = conn.execute(
        select(*table.primary_key.columns).order_by(*(k.desc() for k in keys)).limit(1)
    ).first()
    return tuple(row) if row is not None else None


def _batches(
    source: Database, table: Table, after: tuple[Any, ...] | None, size: int
) -> Iterator[list[Row]]:
    """The source's rows of ``table`` above ``after`` in key order, ``size`` at a time."""
    pk = list(table.primary_key.columns)
    while True:
        with source.engine.connect() as conn:
            keys = _key_columns(table, conn.dialect.name)
            query = select(table).order_by(*keys).limit(size)
            if after is not None:
                # A plain tuple on the right binds each value with its column's type.
                query = query.where(tuple_(*keys) > after if len(pk) > 1 else keys[0] > after[0])
            rows = cast(list[Row], list(conn.execute(query).mappings()))
        if not rows:
            return
        yield rows
        after = tuple(rows[-1][c.name] for c in pk)


def _insert(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    # A row already there (a batch retried after a lost commit answer) is left as it is.
    if conn.dialect.name == "postgresql":
        _insert_postgres(conn, table, rows)
    else:
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows))


def _insert_postgres(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """One statement per batch, one binary array per column (as queries.insert_images does).

    An executemany of the same rows is about eight times slower on PostgreSQL.
    """
    dialect = conn.dialect
    columns, casts, arrays = [], [], []
    for column in table.columns:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[column.name] for row in rows]
        arrays.append([process(v) for v in values] if process else values)
        casts.append(f"%b::{column.type.compile(dialect=dialect)}[]")
        columns.append(dialect.identifier_preparer.quote(column.name))
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({', '.join(casts)}) ON CONFLICT DO NOTHING"
    )
    conn.exec_driver_sql(sql, tuple(arrays))


def _reset_sequences(conn: Connection) -> None:
    """Move PostgreSQL's id sequences past the copied ids, so new rows get fresh ones."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        column: Column[Any] | None = table.autoincrement_column
        if column is None:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
            ),
            {"table": table.name, "column": column.name},
        )


def non_empty_tables(db: Database) -> dict[str, int]:
    """Tables of ``db`` that hold rows, with their counts."""
    with db.engine.connect() as conn:
        counts = {t.name: _count(conn, t) for t in tables()}
    return {name: n for name, n in counts.items() if n}


def prepare_target(source: Database, target: Database, *, resume: bool) -> None:
    """Check the source is current, bring the target's schema up, refuse to mix archives."""
    if source.url == target.url:
        raise InputError("--to names the database being copied: give another one")
    require_current(source)
    upgrade(target)
    held = non_empty_tables(target)
    if held and not resume:
        listed = ", ".join(f"{name}: {n}" for name, n in held.items())
        raise InputError(
            f"{redact(target.url)} already holds rows ({listed}): pass --resume to continue "
            "an interrupted copy into it, or give an empty database"
        )


def copy_rows(
    source: Database,
    target: Database,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    before_insert: BeforeInsert | None = None,
    on_progress: OnProgress | None = None,
) -> CopyReport:
    """Copy every table's rows the target lacks, above its high-water mark, batch by batch."""
    report = CopyReport()
    for table in tables():
        with source.engine.connect() as conn:
            total = _count(conn, table)
        with target.engine.connect() as conn:
            after = _high_water(conn, table)
            done = _count(conn, table)
        report.source_rows[table.name] = total
        report.copied[table.name] = 0
        if on_progress:
            on_progress(table.name, done, total)
        for rows in _batches(source, table, after, batch_size):
            if before_insert:
                before_insert(table, rows)
            with target.engine.begin() as conn:
                _insert(conn, table, rows)
            done += len(rows)
            report.copied[table.name] += len(rows)
            if on_progress:
                on_progress(table.name, done, total)
    with target.engine.begin() as conn:
        _reset_sequences(conn)
    return report


def check_copy(source: Database, target: Database) -> None:
    """Raise GatecamError unless both hold as many rows per table and the same statistics."""
    for name, (held, expected) in _counts(source, target).items():
        if held != expected:
            raise GatecamError(
                f"copy incomplete: {name} has {held} rows in the target, {expected} in the source"
            )
    now = datetime.now(UTC)
    with source.session_scope() as session:
        expected_stats = asdict(queries.get_stats(session, now=now))
    with target.session_scope() as session:
        copied_stats = asdict(queries.get_stats(session, now=now))
    if copied_stats != expected_stats:
        differing = sorted(k for k in expected_stats if copied_stats[k] != expected_stats[k])
        raise GatecamError(f"copy differs from the source in statistics: {', '.join(differing)}")


def _counts(source: Database, target: Database) -> dict[str, tuple[int, int]]:
    with source.engine.connect() as src, target.engine.connect() as dst:
        return {t.name: (_count(dst, t), _count(src, t)) for t in tables()}
