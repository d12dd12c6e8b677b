"""Bulk inserts, pending timestamps and statistics on real SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun, Image
from gatecam.database.queries import ImageRecord

T0 = datetime(2025, 9, 1, 20, 8, 39, tzinfo=UTC)


def records(n: int, stream: str = "in_gate", start: datetime = T0) -> list[ImageRecord]:
    return [
        ImageRecord(
            terminal="apm",
            camera_id=stream,
            filepath=f"apm/{stream}/{(start + timedelta(minutes=10 * i)):%Y-%m-%d/%H%M%S}.jpg",
            timestamp=start + timedelta(minutes=10 * i),
            file_size=1000 + i,
        )
        for i in range(n)
    ]


def count_rows(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Image)) or 0


def test_bulk_insert_returns_only_new_rows_and_is_idempotent(database: Database) -> None:
    batch = records(250)
    with database.session_scope() as session:
        assert queries.insert_images(session, batch, batch_size=100) == 250
    with database.session_scope() as session:
        # The same rows again, plus one duplicate inside the batch and one new row.
        again = [*batch, batch[0], *records(1, start=T0 - timedelta(hours=1))]
        assert queries.insert_images(session, again, batch_size=100) == 1
    assert count_rows(database) == 251
    with database.session_scope() as session:
        stats = queries.get_stats(session, "apm")
    assert stats.total_downloaded == 251
    assert stats.downloads_by_stream == {"in_gate": 251}


def test_a_save_partly_stored_already_counts_only_its_new_rows_per_stream(
    database: Database,
) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(30, "in_gate"))
    # In one call: the 30 in_gate rows again, 5 of them twice, and 12 new out_gate rows.
    mixed = [*records(30, "in_gate"), *records(5, "in_gate"), *records(12, "out_gate")]
    with database.session_scope() as session:
        assert queries.insert_images(session, mixed, batch_size=7) == 12
        stats = queries.get_stats(session, "apm")
    assert stats.downloads_by_stream == {"in_gate": 30, "out_gate": 12}
    assert stats.total_downloaded == count_rows(database) == 42


def test_timestamps_come_back_as_the_same_utc_instant(database: Database) -> None:
    pacific = T0.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    record = ImageRecord("apm", "in_gate", "a.jpg", timestamp=pacific)
    with database.session_scope() as session:
        queries.insert_images(session, [record])
    with database.session_scope() as session:
        stored = session.scalars(select(Image)).one()
    assert stored.timestamp == T0
    assert stored.timestamp is not None and stored.timestamp.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(database: Database) -> None:
    record = ImageRecord("apm", "in_gate", "a.jpg", timestamp=T0.replace(tzinfo=None))
    with pytest.raises(Exception, match="naive datetime"), database.session_scope() as session:
        queries.insert_images(session, [record])
    assert count_rows(database) == 0


def test_missing_timestamps_lists_only_what_is_not_archived(database: Database) -> None:
    held = records(5)
    with database.session_scope() as session:
        queries.insert_images(session, held)
    other_stream = T0 + timedelta(minutes=3)
    with database.session_scope() as session:
        queries.insert_images(session, records(1, stream="out_gate", start=other_stream))
        wanted = [r.timestamp for r in held if r.timestamp] + [T0 - timedelta(days=1), other_stream]
        missing = queries.missing_timestamps(session, "apm", "in_gate", reversed(wanted))
    assert missing == [T0 - timedelta(days=1), other_stream]


def test_windows_count_what_was_added_in_the_last_hour_and_day(database: Database) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(30))
    now = datetime.now(UTC)
    with database.session_scope() as session:
        fresh = queries.get_stats(session, "apm", now=now)
        later = queries.get_stats(session, "apm", now=now + timedelta(hours=2))
        next_day = queries.get_stats(session, "apm", now=now + timedelta(hours=25))
    assert (fresh.last_hour, fresh.last_24h) == (30, 30)
    assert (later.last_hour, later.last_24h) == (0, 30)
    assert (next_day.last_hour, next_day.last_24h) == (0, 0)
    assert next_day.total_downloaded == 30
    assert fresh.last_download is not None and fresh.last_download <= now


def test_runs_are_counted_with_their_last_error(database: Database) -> None:
    with database.session_scope() as session:
        for error in (None, "page did not load", None):
            run = queries.start_run(session, "apm", "in_gate", ["2025-09-01"])
            queries.finish_run(
                session,
                run,
                status="failed" if error is not None else "success",
                discovered=10,
                downloaded=8,
                failed=2,
                pending=0,
                error=error,
            )
    with database.session_scope() as session:
        stats = queries.get_stats(session, "apm")
        backfill_only = queries.last_covered_day(session, "apm", "in_gate")
        today = datetime.now(UTC).date()
        run = queries.start_run(session, "apm", "in_gate", ["2025-09-01", today.isoformat()])
        queries.finish_run(
            session,
            run,
            status="success",
            discovered=0,
            downloaded=0,
            failed=0,
            pending=0,
            error=None,
        )
        covered = queries.last_covered_day(session, "apm", "in_gate")
    assert stats.total_runs == 3
    assert (stats.successful_runs, stats.failed_runs) == (2, 1)
    assert stats.failed_downloads == 6
    assert stats.last_error == "page did not load"
    assert backfill_only is None  # a run for an old day says nothing about the days since
    assert covered == today


def test_stats_are_per_terminal(database: Database) -> None:
    other = [ImageRecord("lbct", "in_gate", "lbct/x.jpg", T0)]
    with database.session_scope() as session:
        queries.insert_images(session, records(3) + other)
    with database.session_scope() as session:
        assert queries.get_stats(session, "apm").total_downloaded == 3
        assert queries.get_stats(session, "lbct").downloads_by_stream == {"in_gate": 1}


def test_insert_image_keeps_the_plans_signature(database: Database) -> None:
    with database.session_scope() as session:
        first = queries.insert_image(session, "apm/in_gate/x.jpg", "in_gate", file_size=1024)
        again = queries.insert_image(
            session, filepath="apm/in_gate/x.jpg", camera_id="in_gate", file_size=1024
        )
    assert isinstance(first, int)
    assert again is None


# Both dialects run the batches on the driver, beneath SQLAlchemy's events: SQLite's own
# trace of the statements it runs counts them.
@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_each_batch_is_one_insert_statement(database: Database) -> None:
    statements: list[str] = []

    def record(statement: str) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO IMAGES"):
            statements.append(statement)

    with database.session_scope() as session:
        driver = session.connection().connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.set_trace_callback(record)
        try:
            assert queries.insert_images(session, records(250), batch_size=100) == 250
        finally:
            driver.set_trace_callback(None)
    assert len(statements) == 3


def test_a_run_left_running_is_marked_interrupted_not_failed(database: Database) -> None:
    with database.session_scope() as session:
        queries.start_run(session, "apm", "in_gate", ["2025-09-01"], host="h1", pid=4242)
    with database.session_scope() as session:
        assert queries.interrupt_stale_runs(session, "apm", "in_gate") == 1
        assert queries.interrupt_stale_runs(session, "apm", "in_gate") == 0
        run = session.scalars(select(DownloadRun)).one()
        stats = queries.get_stats(session, "apm")
    assert (run.status, run.host, run.pid) == ("interrupted", "h1", 4242)
    assert run.finished_at is not None
    assert (stats.failed_runs, stats.interrupted_runs, stats.total_runs) == (0, 1, 1)
    assert stats.last_error is None  # a stop is not a failure of the site or the archive


def test_stats_of_all_terminals_name_each_stream_with_its_terminal(database: Database) -> None:
    other = [ImageRecord("lbct", "in_gate", "lbct/x.jpg", T0)]
    with database.session_scope() as session:
        queries.insert_images(session, records(3) + other)
    with database.session_scope() as session:
        both = queries.get_stats(session)
        names = queries.terminals(session)
    assert both.total_downloaded == 4
    assert set(both.downloads_by_stream) == {"apm/in_gate", "lbct/in_gate"}
    assert names == ["apm", "lbct"]


def test_windows_count_images_added_within_their_first_minute_exactly(
    database: Database,
) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(4))
        added = session.scalars(select(Image.created_at)).first()
    assert added is not None
    # Each window starts a second before or after the rows' own second, inside their minute.
    with database.session_scope() as session:
        just_in = queries.get_stats(session, "apm", now=added + timedelta(hours=1))
        just_out = queries.get_stats(session, "apm", now=added + timedelta(hours=1, microseconds=1))
        day_in = queries.get_stats(session, "apm", now=added + timedelta(hours=24))
        day_out = queries.get_stats(session, "apm", now=added + timedelta(hours=24, seconds=1))
    assert (just_in.last_hour, just_in.last_24h) == (4, 4)
    assert (just_out.last_hour, just_out.last_24h) == (0, 4)
    assert (day_in.last_hour, day_in.last_24h) == (0, 4)
    assert (day_out.last_hour, day_out.last_24h) == (0, 0)


def test_a_run_this_very_process_left_running_was_cut_off_by_the_database(
    database: Database,
) -> None:
    with database.session_scope() as session:
        queries.start_run(session, "apm", "in_gate", ["2025-09-01"], host="h1", pid=4242)
        queries.start_run(session, "apm", "in_gate", ["2025-09-01"], host="h1", pid=99)
    with database.session_scope() as session:
        assert queries.interrupt_stale_runs(session, "apm", "in_gate", host="h1", pid=99) == 2
        runs = session.scalars(select(DownloadRun).order_by(DownloadRun.id)).all()
    assert [(r.status, r.error) for r in runs] == [
        ("interrupted", "the process stopped before the run ended"),
        ("failed", "database unavailable: the run's end could not be recorded"),
    ]
