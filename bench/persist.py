"""Persisting image records: the scheduler's batch path versus one transaction per row.

Target: 10,000 records through ``ImageDownloadScheduler.save_to_database`` at least 100 times
faster than one ``session_scope()`` + ``insert_image()`` per record, on SQLite and PostgreSQL.

Run from the repository root: ``.venv/bin/python bench/persist.py [--skip-postgres]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from databases import BENCH_DATABASE, postgres_database, sqlite_database
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import queries
from gatecam.database.engine import Database, reason
from gatecam.database.migrate import upgrade
from gatecam.downloader.scheduler import DownloadConfig, ImageDownloadScheduler

ROWS = 10_000
BATCH_RUNS = 5
TARGET_RATIO = 100.0
POSTGRES_ADMIN_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
STREAMS = ("in_gate", "out_gate", "rail_in", "rail_out")


@dataclass(frozen=True)
class Timing:
    """How long one path took for how many rows."""

    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def make_records(count: int) -> list[dict[str, Any]]:
    """What the downloader hands the scheduler: one dict per archived image, newest last."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records = []
    for i in range(count):
        stream = STREAMS[i % len(STREAMS)]
        ts = start + timedelta(minutes=10 * (i // len(STREAMS)), seconds=(i * 37) % 60)
        records.append(
            {
                "terminal": "apm",
                "camera_id": stream,
                "timestamp": ts,
                "filepath": f"apm/{stream}/{ts:%Y-%m-%d}/{ts:%H%M%S}.jpg",
                "file_size": 120_000 + i % 15_000,
                "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            }
        )
    return records


def migrated(url: str) -> None:
    db = Database(url)
    try:
        upgrade(db)
    finally:
        db.dispose()


def time_batch_path(url: str, records: list[dict[str, Any]]) -> Timing:
    """The scheduler's path: one transaction, one INSERT per 100 rows (the default)."""
    migrated(url)
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-images-") as images:
        # Construction connects and checks the schema, so the clock starts on a warm pool.
        scheduler = ImageDownloadScheduler(DownloadConfig(database_url=url, download_dir=images))
        try:
            start = time.perf_counter()
            new = scheduler.save_to_database(records)
            seconds = time.perf_counter() - start
        finally:
            scheduler.stop()
    assert new == len(records), f"batch path stored {new} of {len(records)} rows"
    return Timing(len(records), seconds)


def time_per_row_path(url: str, records: list[dict[str, Any]]) -> Timing:
    """The plan's path: each record in its own transaction through ``insert_image``."""
    migrated(url)
    db = Database(url)
    try:
        db.check()  # the same warm pool the batch path gets
        start = time.perf_counter()
        for r in records:
            with db.session_scope() as session:
                queries.insert_image(
                    session,
                    r["filepath"],
                    r["camera_id"],
                    r["timestamp"],
                    r["file_size"],
                    terminal=r["terminal"],
                    sha256=r["sha256"],
                )
        seconds = time.perf_counter() - start
    finally:
        db.dispose()
    return Timing(len(records), seconds)


Fresh = Callable[[], AbstractContextManager[str]]


def measure(fresh: Fresh, records: list[dict[str, Any]], sample: int) -> tuple[Timing, Timing]:
    """Both paths, each on a fresh schema, one after the other.

    The batch path takes about a tenth of a second, where one hiccup of the machine shows:
    its median of BATCH_RUNS saves is taken, each on a fresh schema of its own.
    """
    batches = []
    for _ in range(BATCH_RUNS):
        with fresh() as url:
            batches.append(time_batch_path(url, records))
    batch = sorted(batches, key=lambda t: t.seconds)[len(batches) // 2]
    with fresh() as url:
        per_row = time_per_row_path(url, records[:sample])
    return batch, per_row


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
    parser.add_argument(
        "--per-row-sample",
        type=int,
        default=ROWS,
        help="time the per-row path on this many of the rows and extrapolate (default: all)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    records = make_records(ROWS)
    sample = max(1, min(args.per_row_sample, ROWS))
    backends: list[tuple[str, Fresh]] = []
    if not args.skip_sqlite:
        backends.append(("sqlite", sqlite_database))
    if not args.skip_postgres:
        backends.append(
            ("postgresql", lambda: postgres_database(args.postgres_url, args.bench_database))
        )

    print(
        f"Persisting {ROWS:,} image records: batch path (save_to_database, batch_size 100, "
        f"median of {BATCH_RUNS})"
    )
    print("versus one transaction per row (session_scope + insert_image), fresh schema each.")
    if sample < ROWS:
        print(f"The per-row path is timed on the first {sample:,} rows and extrapolated.")
    print()
    header = f"{'backend':<11} {'batch rows/s':>13} {'per-row rows/s':>15} {'per-row 10k s':>14}"
    print(f"{header} {'ratio':>8}  target >= {TARGET_RATIO:.0f}x")
    status = 0
    for name, fresh in backends:
        try:
            batch, per_row = measure(fresh, records, sample)
        except SQLAlchemyError as exc:
            # Not a missed target: the database went away (or was never there).
            print(f"{name:<11} could not be measured: {reason(exc)}")
            status = 1
            continue
        ratio = batch.rate / per_row.rate
        verdict = "target met" if ratio >= TARGET_RATIO else "TARGET MISSED"
        print(
            f"{name:<11} {batch.rate:>13,.0f} {per_row.rate:>15,.0f} "
            f"{ROWS / per_row.rate:>14.1f} {ratio:>7.1f}x  {verdict}"
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
