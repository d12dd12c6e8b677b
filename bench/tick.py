"""An idle tick: every stream fully archived, nothing new, at 10, 100 and 1,000 streams.

Each size gets an archive of its own: N streams over two terminals, today's images of each
(the stand-in catalogue's schedule up to noon UTC) as files in a LocalStore and as rows, and
one successful run per stream today (and its claim's lock file), as a tick that archived
everything leaves them. The
source is the package's CatalogueSource: listings come from that same local catalogue with
no browser (a replay-learned site's steady state) and no network. Two ticks of the real
DownloadJob then run in a process of its own, so its peak RSS is theirs alone: the first
of a process and the next one, each with its wall and CPU seconds (on a busy machine the
wall time also counts the wait for a core).

Targets: 1,000 streams in at most 1.5 s, at most 150 MB peak. Run from the repository root:
``.venv/bin/python bench/tick.py [--streams 10,100,1000] [--postgres]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from databases import postgres_database

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.locks import claim
from gatecam.database.migrate import upgrade
from gatecam.downloader.job import DownloadJob
from gatecam.model import ImageRecord, ImageRef
from gatecam.settings import DownloadConfig
from gatecam.sources.draydog.standin import Catalogue, CatalogueSource, StandIn
from gatecam.storage import LocalStore
from gatecam.storage.base import image_key

TERMINALS = ("apm", "fms")
TICK_S = 1.5
PEAK_MB = 150.0
# Any complete JPEG will do: the idle tick reads no image bytes.
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 200 + b"\xff\xd9"


def noon() -> datetime:
    """Noon UTC today: run rows are stamped by the database, so the date must be today's."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def stream_names(count: int) -> list[str]:
    return [f"{TERMINALS[n % 2]}/cam{n // 2:04d}" for n in range(count)]


def catalogue(count: int) -> Catalogue:
    now = noon()
    cameras = {name.split("/")[1] for name in stream_names(count)}
    return Catalogue(clock=lambda: now, cameras=cameras, camera_faults=False)


def config(folder: Path, url: str, count: int) -> DownloadConfig:
    return DownloadConfig(
        streams=stream_names(count), database_url=url, download_dir=folder / "images"
    )


def build(folder: Path, url: str, count: int) -> int:
    """The archive of ``count`` streams, all of today archived; returns the image count."""
    db = Database(url)
    upgrade(db)
    site_catalogue = catalogue(count)
    today = noon().date()
    records: list[ImageRecord] = []
    for name in stream_names(count):
        terminal, stream = name.split("/")
        for ts in site_catalogue.list(terminal, stream, today):
            key = image_key(ImageRef(terminal, stream, ts))
            path = folder / "images" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(JPEG)
            records.append(ImageRecord(terminal, stream, key, ts, len(JPEG), None))
    with db.session_scope() as session:
        queries.insert_images(session, records, batch_size=500)
    with db.session_scope() as session:
        for name in stream_names(count):
            terminal, stream = name.split("/")
            run = queries.start_run(session, terminal, stream, [today.isoformat()])
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
    # The lock files a tick leaves beside an SQLite database (one per stream, made once).
    for name in stream_names(count):
        with claim(db, *name.split("/")):
            pass
    db.dispose()
    return len(records)


def idle_tick(folder: Path, url: str, count: int) -> None:
    """Two ticks, in this process: prints their seconds, the peak RSS and what they did (JSON)."""
    settings = config(folder, url, count)
    db = Database(url)
    now = noon()
    with StandIn(catalogue=catalogue(count)) as site:
        job = DownloadJob(
            settings,
            db,
            CatalogueSource(site),
            LocalStore(settings.download_dir),
            clock=lambda: now,
        )
        # The first tick of a process also makes its metrics' label sets and SQLAlchemy's
        # compiled statements; a scheduler's later ticks find them made.
        ticks = []
        for _ in range(2):
            started, cpu = time.monotonic(), time.process_time()
            results = job.run(tick=now - timedelta(minutes=1))
            ticks.append((time.monotonic() - started, time.process_time() - cpu))
    db.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "ticks": ticks,
                "peak_mb": peak,
                "runs": len(results),
                "ok": sum(r.ok for r in results),
                "downloaded": sum(r.downloaded for r in results),
                "errors": [r.summary() for r in results if not r.ok][:3],
            }
        )
    )


def measure(name: str, url_for: str, counts: list[int]) -> None:
    print(name)
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="gatecam-bench-tick-") as tmp:
            folder = Path(tmp)
            url = url_for.replace("{folder}", tmp)
            if url.startswith("postgresql"):
                reset(url)
            started = time.monotonic()
            images = build(folder, url, count)
            built = time.monotonic() - started
            child = subprocess.run(
                [sys.executable, __file__, "--idle", str(folder), url, str(count)],
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(child.stdout.strip().splitlines()[-1])
            (first_s, first_cpu), (next_s, next_cpu) = got["ticks"]
            line = (
                f"  {count:>5} streams ({images:,} images, built in {built:.0f} s): "
                f"first idle tick {first_s:.2f} s ({first_cpu:.2f} s CPU), "
                f"next {next_s:.2f} s ({next_cpu:.2f} s CPU), peak {got['peak_mb']:.0f} MB, "
                f"{got['ok']}/{got['runs']} runs ok, {got['downloaded']} downloaded"
            )
            if count >= 1000:
                met = max(first_s, next_s) <= TICK_S and got["peak_mb"] <= PEAK_MB
                line += (
                    f" (target <= {TICK_S:g} s and <= {PEAK_MB:g} MB: "
                    f"{'target met' if met else 'TARGET MISSED'})"
                )
            print(line, flush=True)
            for error in got["errors"]:
                print(f"    not ok: {error}")


def reset(url: str) -> None:
    from sqlalchemy import text

    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="10,100,1000")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL too")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://root@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--bench-database", default="gatecam_bench_tick")
    parser.add_argument("--idle", nargs=3, metavar=("FOLDER", "URL", "STREAMS"))
    args = parser.parse_args()
    if args.idle:
        idle_tick(Path(args.idle[0]), args.idle[1], int(args.idle[2]))
        return 0
    counts = [int(n) for n in args.streams.split(",")]
    measure("SQLite", "sqlite:///{folder}/gatecam.db", counts)
    if args.postgres:
        with postgres_database(args.postgres_url, args.bench_database) as url:
            measure("PostgreSQL", url, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
