"""``get_stats()`` on a small and a large archive: the statistics must not slow down with size.

Target: at the largest size built (10,000,000 images, or the largest whose archive builds
in under 5 minutes), ``ImageDownloadScheduler.get_stats()`` takes at most 1 ms (median) on
SQLite and 2 ms on PostgreSQL, and is no slower than with 10,000 images.

The archive looks like years of runs: 10 streams, one image per stream about every 10
minutes up to now, each stored 90 s after capture, 2,000 download runs. The newest 10,000
images go in through ``queries.insert_images``; the older ones are made by the database
itself (a recursive CTE on SQLite, generate_series on PostgreSQL), after which the
per-stream totals and per-minute counts are rebuilt from the rows, exactly as the scheduler
would have left them run after run. Each size grows the archive of the size before.

Run from the repository root: ``.venv/bin/python bench/stats.py [--skip-postgres]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from databases import BENCH_DATABASE, postgres_database, sqlite_database
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import queries
from gatecam.database.engine import Database, reason
from gatecam.database.migrate import upgrade
from gatecam.database.models import MinuteCount, UTCDateTime
from gatecam.database.queries import ImageRecord
from gatecam.downloader.scheduler import DownloadConfig, ImageDownloadScheduler

SMALL = 10_000
SIZES = (SMALL, 1_000_000, 10_000_000)
# Median get_stats() at the largest size built, per backend.
TARGET_MS = {"sqlite": 1.0, "postgresql": 2.0}
# A size is built only if the whole archive up to it would take less than this.
BUILD_BUDGET_SECONDS = 300.0
# "No slower" allows for timing noise on a busy 2-core machine.
NO_SLOWER = 1.25
CALLS = 200
WARMUP = 20
# A slow get_stats() must not make the bench run for many minutes: sampling stops at this
# many seconds (and at least MIN_CALLS calls), and the table says how many calls were timed.
BUDGET_SECONDS = 15.0
MIN_CALLS = 5
RUNS = 2_000
STREAMS = ("in_gate", "out_gate", *(f"lane_{n:02d}" for n in range(1, 9)))
TERMINAL = "apm"
STORED_AFTER = timedelta(seconds=90)
BULK_CHUNK = 50_000
POSTGRES_ADMIN_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"

# created_at = capture time + STORED_AFTER, and the minute it falls in, per dialect.
AGE_SQL = {
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', timestamp, '+90 seconds') || '000'",
    "postgresql": "timestamp + interval '90 seconds'",
}
MINUTE_SQL = {
    "sqlite": "strftime('%Y-%m-%d %H:%M:00.000000', created_at)",
    "postgresql": "date_trunc('minute', created_at)",
}


def capture_time(now: datetime, slot: int, stream: int) -> datetime:
    """Slot 0 is the newest; irregular seconds, like the real cameras."""
    jitter = (slot * 7919 + stream * 31) % 120
    return now - timedelta(minutes=10 * slot, seconds=jitter)


def records(now: datetime, first_slot: int, last_slot: int) -> Iterator[ImageRecord]:
    """One image per stream per slot, newest slot first."""
    for slot in range(first_slot, last_slot):
        for index, stream in enumerate(STREAMS):
            ts = capture_time(now, slot, index)
            yield ImageRecord(
                terminal=TERMINAL,
                camera_id=stream,
                filepath=f"{TERMINAL}/{stream}/{ts:%Y-%m-%d}/{ts:%H%M%S}.jpg",
                timestamp=ts,
                file_size=120_000 + (slot * 131 + index) % 15_000,
                sha256=hashlib.sha256(f"{stream}{slot}".encode()).hexdigest(),
            )


def fill_small(db: Database, now: datetime) -> None:
    """The newest 10,000 images through the scheduler's insert path, plus the runs."""
    with db.session_scope() as session:
        # 1,000 rows x 8 columns stays under SQLite's 32,766 bound variables.
        queries.insert_images(
            session, list(records(now, 0, SMALL // len(STREAMS))), batch_size=1000
        )
    with db.session_scope() as session:
        for n in range(RUNS):
            stream = STREAMS[n % len(STREAMS)]
            run = queries.start_run(session, TERMINAL, stream, [f"{now:%Y-%m-%d}"])
            failed = n % 97 == 0
            queries.finish_run(
                session,
                run,
                status="failed" if failed else "success",
                discovered=144,
                downloaded=0 if failed else 1,
                failed=1 if n % 13 == 0 else 0,
                pending=0,
                error="camera page did not load" if failed else None,
            )
    with db.engine.begin() as conn:
        # insert_images stamped them "now"; a real archive stored each 90 s after capture.
        conn.execute(text(f"UPDATE images SET created_at = {AGE_SQL[db.dialect]}"))


# One row per stream and 10-minute slot, made by the database itself: a Python loop feeding
# INSERTs manages about 50,000 rows/s here, too slow to reach 10M within the build budget.
_STREAM_VALUES = ", ".join(f"({n}, '{name}')" for n, name in enumerate(STREAMS))
FILL_SQL = {
    "sqlite": (
        "WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i < :hi - 1),"
        f" s(k, name) AS (VALUES {_STREAM_VALUES}),"
        " t AS (SELECT i, k, name, :epoch - i * 600 - (i * 7919 + k * 31) % 120 AS at"
        " FROM n, s)"
        " INSERT INTO images (terminal, camera_id, filepath, timestamp, file_size, sha256,"
        " thumbnail, created_at)"
        " SELECT 'apm', name, 'apm/' || name || '/' || i || '.jpg',"
        " strftime('%Y-%m-%d %H:%M:%S.000000', at, 'unixepoch'), 120000 + i % 15000,"
        " NULL, 0, strftime('%Y-%m-%d %H:%M:%S.000000', at + 90, 'unixepoch') FROM t"
    ),
    "postgresql": (
        "INSERT INTO images (terminal, camera_id, filepath, timestamp, file_size, sha256,"
        " thumbnail, created_at)"
        " SELECT 'apm', s.name, 'apm/' || s.name || '/' || i || '.jpg', t.at,"
        " 120000 + i % 15000, NULL, false, t.at + interval '90 seconds'"
        " FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS i"
        f" CROSS JOIN (VALUES {_STREAM_VALUES}) AS s(k, name)"
        " CROSS JOIN LATERAL (SELECT to_timestamp(:epoch - i * 600 - (i * 7919 + s.k * 31) % 120)"
        " AS at) AS t"
    ),
}
FILL_SLOTS = 100_000


def fill_range(db: Database, now: datetime, first: int, last: int) -> None:
    """The images of the 10-minute slots [first, last), older than those already in."""
    for lo in range(first // len(STREAMS), last // len(STREAMS), FILL_SLOTS):
        hi = min(lo + FILL_SLOTS, last // len(STREAMS))
        with db.engine.begin() as conn:
            conn.execute(
                text(FILL_SQL[db.dialect]), {"lo": lo, "hi": hi, "epoch": int(now.timestamp())}
            )


def settle(db: Database, now: datetime) -> None:
    """Counters as the scheduler keeps them: one minute row per stream per run for the last
    25 hours (finish_run prunes older ones), exact totals."""
    minute = MINUTE_SQL[db.dialect]
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM minute_counts"))
        conn.execute(
            text(
                "INSERT INTO minute_counts (terminal, camera_id, minute, count) "
                f"SELECT terminal, camera_id, {minute}, count(*) FROM images "
                "WHERE created_at >= :since "
                f"GROUP BY terminal, camera_id, {minute}"
            ).bindparams(bindparam("since", now - timedelta(hours=25), type_=UTCDateTime()))
        )
        conn.execute(
            text(
                "UPDATE stream_counters SET "
                "total = (SELECT count(*) FROM images i WHERE i.terminal = stream_counters.terminal"
                " AND i.camera_id = stream_counters.camera_id), "
                "last_download = (SELECT max(created_at) FROM images i"
                " WHERE i.terminal = stream_counters.terminal"
                " AND i.camera_id = stream_counters.camera_id)"
            )
        )
    if db.dialect == "postgresql":
        # What autovacuum does soon after a big load; gatecam itself never runs ANALYZE.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def time_get_stats(
    scheduler: ImageDownloadScheduler,
) -> tuple[list[float], dict[str, Any]]:
    """Milliseconds of up to ``CALLS`` calls after up to ``WARMUP`` calls, within the budget."""
    deadline = time.perf_counter() + BUDGET_SECONDS / 4
    for _ in range(WARMUP):
        result = scheduler.get_stats()
        if time.perf_counter() > deadline:
            break
    samples: list[float] = []
    deadline = time.perf_counter() + BUDGET_SECONDS
    while len(samples) < CALLS and (len(samples) < MIN_CALLS or time.perf_counter() < deadline):
        start = time.perf_counter()
        result = scheduler.get_stats()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def minute_rows(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(MinuteCount)) or 0)


Fresh = Callable[[], AbstractContextManager[str]]


def bench_backend(name: str, fresh: Fresh) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    target = TARGET_MS[name]
    with fresh() as url, tempfile.TemporaryDirectory(prefix="gatecam-bench-images-") as images:
        db = Database(url)
        try:
            upgrade(db)
            results: list[tuple[int, float, float]] = []
            held, building, rate = 0, 0.0, 0.0
            for size in SIZES:
                # Each size grows the archive of the size before; the build time is the total,
                # foreseen from the rows/s of the last bulk fill.
                guess = building + (size - held) / rate if rate else 0.0
                if guess > BUILD_BUDGET_SECONDS:
                    print(
                        f"{name:<11} {size:>10,} not built: about {guess:.0f} s, "
                        f"over the {BUILD_BUDGET_SECONDS:g} s budget"
                    )
                    break
                start = time.perf_counter()
                if held == 0:
                    fill_small(db, now)
                else:
                    fill_range(db, now, held, size)
                settle(db, now)
                took = time.perf_counter() - start
                if held:
                    rate = (size - held) / took
                building += took
                held = size
                scheduler = ImageDownloadScheduler(
                    DownloadConfig(database_url=url, download_dir=images, terminal=TERMINAL)
                )
                try:
                    samples, result = time_get_stats(scheduler)
                finally:
                    scheduler.stop()
                total = result["total_downloaded"]
                assert total == size, f"expected {size} images, get_stats says {total}"
                median = statistics.median(samples)
                p95 = statistics.quantiles(samples, n=20)[18]
                results.append((size, median, p95))
                verdict = "target met" if median <= target else "TARGET MISSED"
                print(
                    f"{name:<11} {size:>10,} {median:>7.2f} {p95:>7.2f} "
                    f"{len(samples):>5} {building:>7.1f} {minute_rows(db):>9,} "
                    f"{result['last_hour']:>5} {result['last_24h']:>5}  "
                    f"median <= {target:g} ms: {verdict}"
                )
        finally:
            db.dispose()
    (_, small, _), (largest, large, _) = results[0], results[-1]
    ratio = large / small
    verdict = "target met" if ratio <= NO_SLOWER else "TARGET MISSED"
    print(
        f"{name:<11} largest built {largest:,}; {largest:,}/10k median ratio {ratio:.2f}  "
        f"no slower (ratio <= {NO_SLOWER}): {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_ADMIN_URL,
        help=f"a database on the server to use; the bench creates and drops {BENCH_DATABASE}",
    )
    parser.add_argument(
        "--bench-database",
        default=BENCH_DATABASE,
        help=f"the database the bench creates and drops (default {BENCH_DATABASE})",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    backends: list[tuple[str, Fresh]] = []
    if not args.skip_sqlite:
        backends.append(("sqlite", sqlite_database))
    if not args.skip_postgres:
        backends.append(
            ("postgresql", lambda: postgres_database(args.postgres_url, args.bench_database))
        )

    print(
        f"ImageDownloadScheduler.get_stats(): {CALLS} calls after {WARMUP} warm-up, "
        f"{len(STREAMS)} streams, {RUNS:,} runs"
    )
    print(
        "(calls: how many were timed, fewer if they took over "
        f"{BUDGET_SECONDS:g} s in all; fill s: time to load\n"
        " and settle that size; minutes: rows in minute_counts; 1h, 24h: what get_stats said)"
    )
    print()
    print(
        f"{'backend':<11} {'images':>10} {'med ms':>7} {'p95 ms':>7} {'calls':>5} {'fill s':>7} "
        f"{'minutes':>9} {'1h':>5} {'24h':>5}"
    )
    status = 0
    for name, fresh in backends:
        try:
            bench_backend(name, fresh)
        except SQLAlchemyError as exc:
            # Not a missed target: the database went away (or was never there).
            print(f"{name:<11} could not be measured: {reason(exc)}")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
