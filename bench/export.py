"""Export speed: a 144-frame day as an MP4, and a 1,000-image tar streamed over HTTP.

Targets: the day's timelapse in at most 10 s; the tar at 50 MB/s or more.

The archive is built in a temporary folder (SQLite, local files) from the stand-in's JPEGs
(1280x720, about 100 KB each). Drawing a scene costs ~50 ms, so 24 distinct images are
drawn and their bytes reused: decoding, encoding and streaming cost the same for any
bytes. The files were just written, so they are in the page cache, as a day being watched
is. The tar goes through the real web server (uvicorn on a local port) into an httpx client
that reads and discards it, which is what "download this day" does.

Run from the repository root: ``.venv/bin/python bench/export.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.queries import ImageRecord
from gatecam.export import Selection, bundle_chunks, select_images, timelapse_chunks
from gatecam.model import ImageRef
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.storage import LocalStore, image_key
from gatecam.web import WebServer, create_app

DAY = date(2025, 9, 2)
TIMELAPSE_FRAMES = 144
TAR_IMAGES = 1000
TARGET_MP4_SECONDS = 10.0
TARGET_TAR_MB_S = 50.0
DISTINCT = 24


def build(root: Path, db: Database, count: int) -> None:
    """``count`` images of apm/in_gate every 10 minutes from DAY 00:00 UTC, files and rows."""
    store = LocalStore(root)
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    pictures = [
        render_jpeg("apm", "in_gate", start + timedelta(hours=7, minutes=n), thumbnail=False)
        for n in range(DISTINCT)
    ]
    records = []
    for n in range(count):
        ref = ImageRef("apm", "in_gate", start + timedelta(minutes=10 * n, seconds=7))
        data = pictures[n % DISTINCT]
        key = image_key(ref)
        store.put(key, data)
        records.append(ImageRecord("apm", "in_gate", key, ref.timestamp, len(data)))
    with db.session_scope() as session:
        queries.insert_images(session, records)


def timelapse(root: Path, db: Database) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (x264's threads included), and MP4 bytes."""
    selection = Selection("apm", "in_gate", DAY, DAY, ZoneInfo("UTC"))
    started, cpu = time.perf_counter(), time.process_time()
    contents = select_images(db, selection)
    size = sum(len(chunk) for chunk in timelapse_chunks(contents, LocalStore(root), fps=12))
    return time.perf_counter() - started, time.process_time() - cpu, size


def tar_to_file(root: Path, db: Database, days: int, out: Path) -> tuple[float, float, int]:
    """The span's tar written to a file, as ``gatecam export --out`` does."""
    started, cpu = time.perf_counter(), time.process_time()
    selection = Selection("apm", "in_gate", DAY, DAY + timedelta(days=days - 1), ZoneInfo("UTC"))
    contents = select_images(db, selection)
    size = 0
    with out.open("wb") as f:
        for chunk in bundle_chunks(contents, LocalStore(root), "tar"):
            f.write(chunk)
            size += len(chunk)
    return time.perf_counter() - started, time.process_time() - cpu, size


def tar_over_http(root: Path, db: Database, days: int) -> tuple[float, float, int]:
    """Every day's tar in turn over HTTP: the route serves one day, so a span is several.

    Server and client share this process (and its GIL), so the CPU figure counts both.
    """
    total = 0
    started, cpu = time.perf_counter(), time.process_time()
    with (
        WebServer(create_app(Archive(db, LocalStore(root)), tz="UTC")) as web,
        httpx.Client(base_url=web.url, timeout=60) as client,
    ):
        for n in range(days):
            day = DAY + timedelta(days=n)
            with client.stream("GET", f"/apm/in_gate/{day}/images.tar") as response:
                response.raise_for_status()
                total += sum(len(chunk) for chunk in response.iter_bytes(1 << 16))
    return time.perf_counter() - started, time.process_time() - cpu, total


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-export-") as tmp:
        root = Path(tmp) / "images"
        db = Database(f"sqlite:///{tmp}/gatecam.db")
        upgrade(db)
        try:
            build(root, db, TAR_IMAGES)
            print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            seconds, cpu, size = timelapse(root, db)
            verdict = "target met" if seconds <= TARGET_MP4_SECONDS else "TARGET MISSED"
            print(
                f"timelapse, {TIMELAPSE_FRAMES} frames (one day) at 1280x720, 12 fps: "
                f"{seconds:.2f} s ({cpu:.2f} s of CPU), {size / 1e6:.1f} MB  "
                f"(target <= {TARGET_MP4_SECONDS:.0f} s: {verdict})"
            )
            days = -(-TAR_IMAGES // TIMELAPSE_FRAMES)
            for what, (seconds, cpu, size) in (
                ("to a file", tar_to_file(root, db, days, Path(tmp) / "span.tar")),
                (f"over HTTP ({days} day routes)", tar_over_http(root, db, days)),
            ):
                rate = size / 1e6 / seconds
                verdict = "target met" if rate >= TARGET_TAR_MB_S else "TARGET MISSED"
                print(
                    f"tar {what}, {TAR_IMAGES} images: {size / 1e6:.1f} MB in {seconds:.2f} s "
                    f"({cpu:.2f} s of CPU) = {rate:.0f} MB/s  "
                    f"(target >= {TARGET_TAR_MB_S:.0f} MB/s: {verdict})"
                )
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
