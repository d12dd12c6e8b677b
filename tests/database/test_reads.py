"""Reads at scale: read-only sessions never wait for a writer, and paging walks an index."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import browse, queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.database.stats import read_stats

START = datetime(2025, 9, 1, tzinfo=UTC)


def records(streams: int, per_stream: int) -> list[ImageRecord]:
    out = []
    for s in range(streams):
        for n in range(per_stream):
            ts = START + timedelta(minutes=10 * n, seconds=s)
            out.append(ImageRecord("apm", f"lane_{s}", f"apm/lane_{s}/{n}.jpg", ts, 1000))
    return out


def with_busy_timeout(url: str, seconds: float) -> str:
    # Without read-only sessions a reader would wait this long for the write lock, then fail.
    return f"{url}?timeout={seconds}" if url.startswith("sqlite") else url


def test_reads_run_alongside_a_writer_holding_a_transaction(database_url: str) -> None:
    writer = Database(database_url)
    reader = Database(with_busy_timeout(database_url, 0.5))
    try:
        with writer.session_scope() as session:
            queries.insert_images(session, records(1, 3))
        with writer.session_scope() as session:
            # The job mid-batch: its rows are written but not committed, its lock held.
            queries.insert_images(session, records(2, 5)[5:])
            started = time.monotonic()
            with reader.read_scope() as read:
                stats = queries.get_stats(read, "apm")
                successes = browse.last_successes(read)
            page = reader.read_rows(browse.image_page_query(limit=100))
            state = browse.fingerprint(reader)
            waited = time.monotonic() - started
        # The reader saw the committed archive, at once, and not the writer's open batch.
        assert stats.total_downloaded == 3
        assert [row.filepath for row in page] == [f"apm/lane_0/{n}.jpg" for n in range(3)]
        assert successes == {}
        assert state[:2] == (1, 3)  # one stream's counters, three images
        assert waited < 0.5
        with reader.read_scope() as read:
            assert queries.get_stats(read, "apm").total_downloaded == 8
    finally:
        writer.dispose()
        reader.dispose()


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_a_read_only_session_refuses_to_write(database: Database) -> None:
    with pytest.raises(SQLAlchemyError, match="read-only"), database.read_scope() as session:
        queries.insert_images(session, records(1, 1))
    with database.read_scope() as session:
        assert queries.get_stats(session).total_downloaded == 0


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_a_lone_read_is_read_only_and_outlives_its_connections_being_dropped(
    database: Database,
) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(2, 3))
    assert read_stats(database).total_downloaded == 6
    with pytest.raises(SQLAlchemyError, match="read-only"):
        database.read_rows(text("CREATE TABLE stray (n int)"))
    # As when the server restarts: every connection the pool holds is gone under it.
    with database.session_scope() as session:
        session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert read_stats(database).total_downloaded == 6


def _plan(database: Database, sql: str) -> str:
    with database.read_scope() as session:
        prefix = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
        rows = session.execute(text(prefix + sql)).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_paging_the_whole_archive_walks_the_index_without_sorting(database: Database) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(10, 2_000), batch_size=1000)
    if database.dialect == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE images"))
    dialect = database.engine.dialect
    first = database.read_rows(browse.image_page_query(limit=101))
    deep = (first[-1].timestamp, first[-1].id)
    assert deep[0] is not None
    for after in (None, deep):
        stmt = browse.image_page_query(after=after, limit=101)  # type: ignore[arg-type]
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        plan = _plan(database, sql)
        assert "ix_images_timestamp_id" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
