"""The fast persist and statistics paths keep every guarantee, on SQLite and PostgreSQL.

Counts per stream when part of a save was stored already, the counters and the per-minute
rollup beside them, files found gone stored again, and statistics equal to what one
hand-written statement over the same tables says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image, MinuteCount, StreamCounter
from gatecam.database.queries import DownloadStats, ImageRecord
from gatecam.database.stats import read_stats

T0 = datetime(2025, 9, 1, 20, 8, 39, tzinfo=UTC)


def records(n: int, stream: str, terminal: str = "apm", start: datetime = T0) -> list[ImageRecord]:
    return [
        ImageRecord(
            terminal,
            stream,
            f"{terminal}/{stream}/{i}.jpg",
            start + timedelta(minutes=10 * i),
            1000 + i,
            f"{i:064x}",
            False,
            f"{i:016x}",
            120.5,
            33.25,
        )
        for i in range(n)
    ]


def counters(db: Database) -> dict[tuple[str, str], int]:
    with db.read_scope() as session:
        rows = session.execute(
            select(StreamCounter.terminal, StreamCounter.camera_id, StreamCounter.total)
        )
        return {(t, c): n for t, c, n in rows}


def minute_counts(db: Database) -> dict[tuple[str, str], int]:
    with db.read_scope() as session:
        rows = session.execute(
            select(MinuteCount.terminal, MinuteCount.camera_id, MinuteCount.count)
        )
        found: dict[tuple[str, str], int] = {}
        for t, c, n in rows:
            found[t, c] = found.get((t, c), 0) + n
        return found


def test_a_save_partly_stored_counts_its_new_rows_per_stream_in_counters_and_minutes(
    database: Database,
) -> None:
    with database.session_scope() as session:
        assert queries.insert_images(session, records(20, "in_gate")) == 20
    # Stored already: all 20 in_gate rows (one of them twice); new: 5 more in_gate, 7 out_gate,
    # 3 of another terminal. Small batches, so the stored rows straddle several statements.
    save = [
        *records(25, "in_gate"),
        records(1, "in_gate")[0],
        *records(7, "out_gate"),
        *records(3, "in_gate", terminal="lbct"),
    ]
    with database.session_scope() as session:
        assert queries.insert_images(session, save, batch_size=6) == 15
    expected = {("apm", "in_gate"): 25, ("apm", "out_gate"): 7, ("lbct", "in_gate"): 3}
    assert counters(database) == expected
    assert minute_counts(database) == expected
    with database.read_scope() as session:
        held = session.execute(select(Image.filepath, Image.dhash, Image.brightness)).all()
    assert len(held) == 35
    assert ("apm/out_gate/6.jpg", f"{6:016x}", 120.5) in held


def test_two_saves_in_one_transaction_count_each_row_once(database: Database) -> None:
    with database.session_scope() as session:
        assert queries.insert_images(session, records(4, "in_gate")) == 4
        # The second save repeats two of the first's rows: neither comes back as new.
        again = [*records(2, "in_gate"), *records(3, "out_gate")]
        assert queries.insert_images(session, again) == 3
    assert counters(database) == {("apm", "in_gate"): 4, ("apm", "out_gate"): 3}


def test_a_file_found_gone_and_stored_again_is_no_longer_missing(database: Database) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(3, "in_gate"))
        session.execute(text("UPDATE images SET missing_since = created_at"))
    with database.session_scope() as session:
        assert queries.insert_images(session, records(3, "in_gate")) == 0
    with database.read_scope() as session:
        assert session.scalars(select(Image.missing_since)).all() == [None, None, None]
    assert counters(database) == {("apm", "in_gate"): 3}


# The oracle: the question get_stats answers, asked in one plain statement per figure set.
ORACLE = """
SELECT c.terminal, c.camera_id, c.total, c.last_download, c.total_runs, c.successful_runs,
       c.partial_runs, c.failed_runs, c.interrupted_runs, c.failed_downloads, c.last_error,
       c.last_error_at,
       (SELECT count(*) FROM images i WHERE i.terminal = c.terminal
         AND i.created_at >= :hour_ago AND i.created_at <= :now),
       (SELECT count(*) FROM images i WHERE i.terminal = c.terminal
         AND i.created_at >= :day_ago AND i.created_at <= :now)
FROM stream_counters c WHERE CAST(:terminal AS text) IS NULL OR c.terminal = :terminal
"""


def oracle(db: Database, terminal: str | None, now: datetime) -> DownloadStats:
    bind: dict[str, Any] = {
        "now": now,
        "hour_ago": now - timedelta(hours=1),
        "day_ago": now - timedelta(hours=24),
    }
    if db.dialect == "sqlite":
        bind = {k: v.isoformat(" ", "microseconds")[:26] for k, v in bind.items()}
    with db.engine.connect() as conn:
        rows = conn.execute(text(ORACLE), {**bind, "terminal": terminal}).all()
    if not rows:
        return DownloadStats()

    def utc(value: Any) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    several = len({r[0] for r in rows}) > 1
    window = {r[0]: (r[12], r[13]) for r in rows}  # per terminal, the same on each of its rows
    errors = [r for r in rows if r[11] is not None]
    downloads = [utc(r[3]) for r in rows if r[3] is not None]
    return DownloadStats(
        total_downloaded=sum(r[2] for r in rows),
        downloads_by_stream={(f"{r[0]}/{r[1]}" if several else r[1]): r[2] for r in rows if r[2]},
        last_hour=sum(h for h, _ in window.values()),
        last_24h=sum(d for _, d in window.values()),
        last_download=max(downloads) if downloads else None,
        total_runs=sum(r[4] for r in rows),
        successful_runs=sum(r[5] for r in rows),
        partial_runs=sum(r[6] for r in rows),
        failed_runs=sum(r[7] for r in rows),
        interrupted_runs=sum(r[8] for r in rows),
        failed_downloads=sum(r[9] for r in rows),
        last_error=max(errors, key=lambda r: utc(r[11]))[10] if errors else None,
    )


def test_stats_say_what_one_hand_written_statement_says(database: Database) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, records(12, "in_gate") + records(5, "out_gate"))
        queries.insert_images(session, records(4, "in_gate", terminal="lbct"))
        for stream, status, error in (
            ("in_gate", "success", None),
            ("out_gate", "failed", "page did not load"),
            ("in_gate", "partial", "2 downloads failed"),
        ):
            run = queries.start_run(session, "apm", stream, ["2025-09-01"])
            queries.finish_run(
                session,
                run,
                status=status,
                discovered=10,
                downloaded=8,
                failed=2,
                pending=0,
                error=error,
            )
    with database.session_scope() as session:
        # Some images stored earlier: in neither window, or only in the day's.
        session.execute(
            text("UPDATE images SET created_at = :at WHERE camera_id = 'out_gate'"),
            {"at": datetime.now(UTC) - timedelta(hours=3)},
        )
        session.execute(
            text("UPDATE images SET created_at = :at WHERE terminal = 'lbct'"),
            {"at": datetime.now(UTC) - timedelta(days=3)},
        )
    # Seeded as the scheduler leaves them: out_gate's rollup minute moves with its rows.
    with database.session_scope() as session:
        three_hours = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
        session.execute(
            text("UPDATE minute_counts SET minute = :m WHERE camera_id = 'out_gate'"),
            {"m": three_hours},
        )
        session.execute(text("DELETE FROM minute_counts WHERE terminal = 'lbct'"))
    now = datetime.now(UTC)
    for terminal in ("apm", "lbct", None):
        expected = oracle(database, terminal, now)
        assert read_stats(database, terminal, now=now) == expected
        with database.read_scope() as session:
            assert queries.get_stats(session, terminal, now=now) == expected
    assert oracle(database, "apm", now).last_hour == 12
    assert oracle(database, "apm", now).last_24h == 17
    assert oracle(database, None, now).failed_runs == 1
    assert read_stats(database, "nowhere", now=now) == DownloadStats()


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_a_row_the_server_refuses_fails_the_save_as_a_database_error(database: Database) -> None:
    too_big = [*records(2, "in_gate"), records(1, "out_gate")[0]._replace(file_size=2**40)]
    with pytest.raises(SQLAlchemyError), database.session_scope() as session:
        queries.insert_images(session, too_big)
    assert counters(database) == {}
