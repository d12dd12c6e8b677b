"""gatecam beside its peers and the limits of what it drives, measured side by side.

Every comparison runs interleaved (gatecam, then its peer, then again, round after round) so
that whatever else the shared machine is doing weighs on both alike, and prints
``gatecam | peer or limit | ratio | target | met/MISSED`` from the medians of the rounds:

- persist 10,000 rows: ``queries.insert_images(session, records, batch_size=100)`` (the
  scheduler's call, without its validation) at most 1.2x the time of the plain driver's
  ``executemany`` on SQLite, and at most 1.3x psycopg's ``COPY`` on PostgreSQL, into the same
  schema and indexes, one transaction each;
- ``get_stats`` as the scheduler reads it at most 2x one hand-written statement on the plain
  driver's connection that gives the same numbers (checked equal), at 1,000,000 images;
- downloads (bench/peers_download.py): 300 images from the stand-in CDN at 50 ms an answer,
  8 at a time: ``DrayDogDownloader`` at most 1.1x ``curl --parallel``; aria2 and the limit
  300 x 50 ms / 8 beside it;
- pages (bench/peers_web.py): at 200,000 images, 50 connections of ``wrk``: ``gatecam web``'s
  ``/api/images?limit=100`` at least 2x datasette's ``images.json?_size=100`` on the same
  file, p99 at most 250 ms; ``/api/stats`` at least 5x datasette's ``stream_counters.json``;
- mixed (bench/peers_web.py): 50 httpx clients in their own process for 20 s over the five
  routes of bench/web.py while a writer stores 60 images every 0.5 s: at least 400 req/s,
  p99 at most 300 ms; then each factor that sets it apart from bench/web.py's figures.

A peer that is not installed is printed as ``skipped: X not installed``.

Run from the repository root: ``.venv/bin/python bench/peers.py [--only NAME] [--skip-postgres]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from databases import postgres_database
from peers_common import HEADER, Figure, Line, median
from peers_download import IMAGES as DL_IMAGES
from peers_download import compare_downloads
from peers_web import IMAGES as WEB_IMAGES
from peers_web import compare_mixed, compare_pages
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from stats import fill_range, fill_small, settle

from gatecam.database import queries
from gatecam.database.engine import Database, reason
from gatecam.database.migrate import upgrade
from gatecam.database.queries import DownloadStats, ImageRecord
from gatecam.database.stats import read_stats

ROWS = 10_000
BATCH = 100
ROUNDS = 5
ARCHIVE = 1_000_000
STATS_CALLS = 300
PERSIST_TARGET = {"sqlite": 1.2, "postgresql": 1.3}
STATS_TARGET = 2.0
POSTGRES_ADMIN_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
BENCH_DATABASE = "gatecam_bench_peers"
STREAMS = ("in_gate", "out_gate", "rail_in", "rail_out")
TERMINAL = "apm"
COLUMNS = (
    "terminal, camera_id, filepath, timestamp, file_size, sha256, thumbnail, created_at,"
    " dhash, brightness, contrast"
)


def make_records(count: int) -> list[ImageRecord]:
    """What the downloader hands on: one record per archived image, with its health figures."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records = []
    for i in range(count):
        stream = STREAMS[i % len(STREAMS)]
        ts = start + timedelta(minutes=10 * (i // len(STREAMS)), seconds=(i * 37) % 60)
        records.append(
            ImageRecord(
                TERMINAL,
                stream,
                f"{TERMINAL}/{stream}/{ts:%Y-%m-%d}/{ts:%H%M%S}.jpg",
                ts,
                120_000 + i % 15_000,
                hashlib.sha256(str(i).encode()).hexdigest(),
                False,
                f"{i:016x}",
                100.0 + i % 50,
                30.0 + i % 7,
            )
        )
    return records


def peer_rows(records: list[ImageRecord], sqlite_text: bool) -> list[tuple[Any, ...]]:
    """The rows as the peer sends them, made before its clock starts: the database's limit."""
    now = datetime.now(UTC)

    def when(value: datetime | None) -> Any:
        if value is None or not sqlite_text:
            return value
        return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]

    return [
        (
            r.terminal,
            r.camera_id,
            r.filepath,
            when(r.timestamp),
            r.file_size,
            r.sha256,
            r.thumbnail,
            when(now),
            r.dhash,
            r.brightness,
            r.contrast,
        )
        for r in records
    ]


# -- persist ---------------------------------------------------------------------------------


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def ours_persist(url: str, records: list[ImageRecord]) -> float:
    db = Database(url)
    try:
        db.check()  # a warm pool, as the scheduler's

        def save() -> None:
            with db.session_scope() as session:
                new = queries.insert_images(session, records, batch_size=BATCH)
            assert new == len(records), f"insert_images stored {new} of {len(records)}"

        return timed(save)
    finally:
        db.dispose()


def sqlite_peer(path: Path, rows: list[tuple[Any, ...]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # The pragmas gatecam's own connections set.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        marks = ", ".join("?" * len(rows[0]))

        def save() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(f"INSERT INTO images ({COLUMNS}) VALUES ({marks})", rows)
            conn.execute("COMMIT")

        return timed(save)
    finally:
        conn.close()


def postgres_peer(dsn: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(dsn) as conn:

        def save() -> None:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY images ({COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)

        return timed(save)


def persist_sqlite(records: list[ImageRecord]) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-peers-") as tmp:
        template = Path(tmp) / "template.db"
        db = Database(f"sqlite:///{template}")
        try:
            upgrade(db)
        finally:
            db.dispose()
        ours, peer = [], []
        for n in range(ROUNDS):
            # A copy of the migrated file per measurement: the same empty schema and indexes.
            a, b = Path(tmp) / f"ours{n}.db", Path(tmp) / f"peer{n}.db"
            shutil.copy(template, a)
            shutil.copy(template, b)
            ours.append(ours_persist(f"sqlite:///{a}", records))
            peer.append(sqlite_peer(b, peer_rows(records, sqlite_text=True)))
        return ours, peer


def empty_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE images, stream_counters, minute_counts RESTART IDENTITY")


def persist_postgres(url: str, records: list[ImageRecord]) -> tuple[list[float], list[float]]:
    db = Database(url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    ours, peer = [], []
    for _ in range(ROUNDS):
        empty_tables(dsn)
        ours.append(ours_persist(url, records))
        empty_tables(dsn)
        peer.append(postgres_peer(dsn, peer_rows(records, sqlite_text=False)))
    return ours, peer


# -- statistics ------------------------------------------------------------------------------

# The hand-written oracle: the counters of the terminal's streams, each row carrying the four
# window parts (whole minutes from the rollup, the partial first minutes counted exactly).
HAND_SQL = """
SELECT c.camera_id, c.total, c.last_download, c.total_runs, c.successful_runs,
       c.partial_runs, c.failed_runs, c.interrupted_runs, c.failed_downloads,
       c.last_error, c.last_error_at, w.whole_hour, w.whole_day,
       (SELECT count(*) FROM images WHERE terminal = {t}
         AND created_at >= {hour_start} AND created_at < {hour_edge}),
       (SELECT count(*) FROM images WHERE terminal = {t}
         AND created_at >= {day_start} AND created_at < {day_edge})
FROM stream_counters c,
     (SELECT coalesce(sum(CASE WHEN minute >= {hour_edge} THEN count ELSE 0 END), 0)
             AS whole_hour, coalesce(sum(count), 0) AS whole_day
      FROM minute_counts WHERE terminal = {t} AND minute >= {day_edge}) w
WHERE c.terminal = {t}
"""
NAMES = ("t", "hour_start", "hour_edge", "day_start", "day_edge")
SQLITE_HAND = HAND_SQL.format(**{n: f":{n}" for n in NAMES})
POSTGRES_HAND = HAND_SQL.format(**{n: f"%({n})s" for n in NAMES})


def hand_parameters(now: datetime, sqlite_text: bool) -> dict[str, Any]:
    hour_start, day_start = now - timedelta(hours=1), now - timedelta(hours=24)
    edges = {
        "hour_start": hour_start,
        "hour_edge": hour_start.replace(second=0, microsecond=0) + timedelta(minutes=1),
        "day_start": day_start,
        "day_edge": day_start.replace(second=0, microsecond=0) + timedelta(minutes=1),
    }
    if sqlite_text:
        edges = {k: v.isoformat(" ", "microseconds")[:26] for k, v in edges.items()}
    return {"t": TERMINAL, **edges}


def hand_stats(rows: list[tuple[Any, ...]]) -> DownloadStats:
    """The statement's rows summed up as DownloadStats: what the oracle's caller must do."""
    if not rows:
        return DownloadStats()

    def utc(value: Any) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    downloads = [r[2] for r in rows if r[2] is not None]
    errors = [r for r in rows if r[10] is not None]
    first = rows[0]
    return DownloadStats(
        total_downloaded=sum(r[1] for r in rows),
        downloads_by_stream={r[0]: r[1] for r in rows if r[1]},
        last_hour=int(first[11]) + int(first[13]),
        last_24h=int(first[12]) + int(first[14]),
        last_download=utc(max(downloads)) if downloads else None,
        total_runs=sum(r[3] for r in rows),
        successful_runs=sum(r[4] for r in rows),
        partial_runs=sum(r[5] for r in rows),
        failed_runs=sum(r[6] for r in rows),
        interrupted_runs=sum(r[7] for r in rows),
        failed_downloads=sum(r[8] for r in rows),
        last_error=max(errors, key=lambda r: utc(r[10]))[9] if errors else None,
    )


def per_call_ms(call: Callable[[], Any], calls: int) -> float:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def scheduler_stats(db: Database) -> DownloadStats:
    """What ImageDownloadScheduler.stats runs for one configured terminal: a lone read."""
    return read_stats(db, TERMINAL)


def session_stats(db: Database) -> DownloadStats:
    """The same through an ORM read session, as the CLI reads it (for comparison)."""
    with db.read_scope() as session:
        return queries.get_stats(session, TERMINAL)


def compare_stats(
    db: Database, peer: Callable[[], DownloadStats]
) -> tuple[list[float], list[float]]:
    ours_stats, peer_stats = scheduler_stats(db), peer()
    assert ours_stats.total_downloaded == ARCHIVE, ours_stats.total_downloaded
    assert ours_stats == peer_stats, f"get_stats {ours_stats} != hand-written {peer_stats}"
    assert session_stats(db) == peer_stats
    ours, hand, session = [], [], []
    for _ in range(ROUNDS):
        ours.append(per_call_ms(lambda: scheduler_stats(db), STATS_CALLS))
        hand.append(per_call_ms(peer, STATS_CALLS))
        session.append(per_call_ms(lambda: session_stats(db), STATS_CALLS))
    print(f"  ({db.dialect}: get_stats in a read session {statistics.median(session):.3f} ms)")
    return ours, hand


@contextmanager
def archive(url: str) -> Iterator[Database]:
    """The statistics bench's archive (bench/stats.py) at ARCHIVE images, counters settled."""
    now = datetime.now(UTC).replace(microsecond=0)
    db = Database(url)
    try:
        upgrade(db)
        start = time.perf_counter()
        fill_small(db, now)
        fill_range(db, now, 10_000, ARCHIVE)
        settle(db, now)
        print(f"  ({db.dialect}: {ARCHIVE:,} images built in {time.perf_counter() - start:.0f} s)")
        yield db
    finally:
        db.dispose()


def stats_sqlite() -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-peers-") as tmp:
        path = Path(tmp) / "archive.db"
        with archive(f"sqlite:///{path}") as db:
            conn = sqlite3.connect(path, isolation_level=None)
            try:

                def peer() -> DownloadStats:
                    now = datetime.now(UTC)
                    params = hand_parameters(now, sqlite_text=True)
                    return hand_stats(conn.execute(SQLITE_HAND, params).fetchall())

                return compare_stats(db, peer)
            finally:
                conn.close()


def stats_postgres(url: str) -> tuple[list[float], list[float]]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    with archive(url) as db, psycopg.connect(dsn, autocommit=True) as conn:

        def peer() -> DownloadStats:
            params = hand_parameters(datetime.now(UTC), sqlite_text=False)
            return hand_stats(conn.execute(POSTGRES_HAND, params).fetchall())

        return compare_stats(db, peer)


# -- report ----------------------------------------------------------------------------------

Printed = Line | Figure | str
Comparison = Callable[[argparse.Namespace], list[Printed]]


def persist_line(label: str, measured: tuple[list[float], list[float]], dialect: str) -> Line:
    ours, peer = measured
    return Line(label, median(ours), median(peer), "s", PERSIST_TARGET[dialect])


def stats_line(label: str, measured: tuple[list[float], list[float]]) -> Line:
    ours, peer = measured
    return Line(label, median(ours), median(peer), "ms", STATS_TARGET)


@contextmanager
def bench_postgres(args: argparse.Namespace) -> Iterator[str]:
    with postgres_database(args.postgres_url, args.bench_database) as url:
        yield url


def postgres_persist(args: argparse.Namespace) -> list[Printed]:
    with bench_postgres(args) as url:
        measured = persist_postgres(url, make_records(ROWS))
    return [persist_line("postgresql persist vs COPY", measured, "postgresql")]


def postgres_stats(args: argparse.Namespace) -> list[Printed]:
    with bench_postgres(args) as url:
        return [stats_line("postgresql get_stats vs one stmt", stats_postgres(url))]


COMPARISONS: dict[str, tuple[str, Comparison]] = {
    "persist-sqlite": (
        "sqlite",
        lambda a: [
            persist_line(
                "sqlite persist vs executemany", persist_sqlite(make_records(ROWS)), "sqlite"
            )
        ],
    ),
    "stats-sqlite": (
        "sqlite",
        lambda a: [stats_line("sqlite get_stats vs one statement", stats_sqlite())],
    ),
    "persist-postgresql": ("postgresql", postgres_persist),
    "stats-postgresql": ("postgresql", postgres_stats),
    "downloads": ("", lambda a: list(compare_downloads())),
    "pages": ("sqlite", lambda a: list(compare_pages())),
    "mixed": ("sqlite", lambda a: list(compare_mixed())),
}


def chosen(args: argparse.Namespace) -> list[str]:
    if args.only:
        return [args.only]
    names = []
    for name, (backend, _) in COMPARISONS.items():
        if (backend == "sqlite" and args.skip_sqlite) or (
            backend == "postgresql" and args.skip_postgres
        ):
            continue
        if name.startswith("persist") and args.skip_persist:
            continue
        if name.startswith("stats") and args.skip_stats:
            continue
        names.append(name)
    return names


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
    parser.add_argument("--only", choices=sorted(COMPARISONS), help="run this comparison alone")
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite")
    parser.add_argument("--skip-stats", action="store_true", help="no get_stats lines")
    parser.add_argument("--skip-persist", action="store_true", help="no persist lines")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # Each line as it comes, in order with what the servers and tools it starts print.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print(
        "gatecam beside its peers, each comparison interleaved (gatecam, peer, gatecam, "
        "peer...) so the shared machine's load weighs on both; medians of the rounds"
    )
    print(
        f"(persist: {ROWS:,} rows, batch_size {BATCH}, {ROUNDS} rounds; get_stats: "
        f"{STATS_CALLS} calls a round at {ARCHIVE:,} images; downloads: {DL_IMAGES} images; "
        f"web: {WEB_IMAGES:,} images)"
    )
    print()
    print(HEADER)
    status = 0
    for name in chosen(args):
        _, comparison = COMPARISONS[name]
        try:
            for line in comparison(args):
                print(line, flush=True)
        except (SQLAlchemyError, psycopg.OperationalError) as exc:
            # Not a missed target: the database went away (or was never there).
            print(f"{name}: could not be measured: {reason(exc)}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
