"""Job claims: how many (terminal, stream) jobs per minute N instances get through M streams.

Each instance is a process of its own with its own ``Database``, looping over every stream
(each starting at a different one) and claiming it with ``gatecam.database.locks.claim``; a
claimed job runs a body of ``--job-ms`` milliseconds (0: a no-op, so the figure is the cost of
claiming itself). Every job also checks a shared per-stream flag, so two instances ever holding
one stream at once would show up as an overlap; the target is 0 overlaps.

Advisory locks need no tables, so the PostgreSQL URL is used as it is (nothing is created).
Run from the repository root: ``.venv/bin/python bench/claims.py [--instances 3 --streams 6]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gatecam.database.engine import Database, reason
from gatecam.database.locks import claim
from gatecam.errors import GatecamError

TERMINALS = ("apm", "fms")


@dataclass
class Tally:
    """What one instance did."""

    jobs: int = 0
    skipped: int = 0
    overlaps: int = 0


def streams(count: int) -> list[tuple[str, str]]:
    """``count`` (terminal, stream) pairs over two terminals, like the issue's six streams."""
    return [(TERMINALS[i % 2], f"gate_{i // 2}") for i in range(count)]


def instance(
    url: str,
    index: int,
    pairs: list[tuple[str, str]],
    seconds: float,
    job_seconds: float,
    holders: Any,
    start: Any,
    results: Any,
) -> None:
    db = Database(url)
    tally = Tally()
    start.wait()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for step in range(len(pairs)):
                slot = (step + index) % len(pairs)
                terminal, stream = pairs[slot]
                with claim(db, terminal, stream) as held:
                    if not held:
                        tally.skipped += 1
                        continue
                    if holders[slot] != 0:
                        tally.overlaps += 1
                    holders[slot] = os.getpid()
                    if job_seconds:
                        time.sleep(job_seconds)
                    tally.jobs += 1
                    holders[slot] = 0
    finally:
        db.dispose()
    results.put((index, tally.jobs, tally.skipped, tally.overlaps))


def measure(url: str, count: int, stream_count: int, seconds: float, job_ms: float) -> None:
    ctx = mp.get_context("spawn")
    pairs = streams(stream_count)
    holders = ctx.Array("i", len(pairs), lock=False)
    start = ctx.Barrier(count)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=instance,
            args=(url, i, pairs, seconds, job_ms / 1000, holders, start, results),
        )
        for i in range(count)
    ]
    for proc in procs:
        proc.start()
    rows = sorted(results.get(timeout=seconds + 120) for _ in procs)
    for proc in procs:
        proc.join()
    per_minute = 60 / seconds
    total_jobs = sum(row[1] for row in rows)
    overlaps = sum(row[3] for row in rows)
    for index, jobs, skipped, _ in rows:
        tried = jobs + skipped
        print(
            f"  instance {index}: {jobs * per_minute:>10,.0f} jobs/min"
            f"  ({skipped / tried:.0%} of {tried:,} claims found the stream taken)"
        )
    print(
        f"  all {count}: {total_jobs * per_minute:,.0f} jobs/min over {stream_count} streams, "
        f"{overlaps} overlaps ({'target met' if overlaps == 0 else 'TARGET MISSED'}: 0)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://root@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--job-ms", type=float, default=0.0, help="length of a job's body")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    print(
        f"{args.instances} instances, {args.streams} streams, {args.seconds:g} s, "
        f"job body {args.job_ms:g} ms"
    )
    status = 0
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-") as tmp:
        backends = []
        if not args.skip_sqlite:
            backends.append(("SQLite (lock files)", f"sqlite:///{Path(tmp) / 'gatecam.db'}"))
        if not args.skip_postgres:
            backends.append(("PostgreSQL (advisory locks)", args.postgres_url))
        for name, url in backends:
            print(name)
            probe = Database(url)
            try:
                probe.check()
            except (GatecamError, SQLAlchemyError) as exc:
                print(f"  cannot use {name}: {reason(exc)}")
                status = 1
                continue
            finally:
                probe.dispose()
            measure(url, args.instances, args.streams, args.seconds, args.job_ms)
    return status


if __name__ == "__main__":
    sys.exit(main())
