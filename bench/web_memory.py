"""The web server's memory under distinct junk query strings: what it keeps per request.

``gatecam web`` serves an archive of a few images in its own process; 1,500 requests, each
with a distinct 20 KB query string, go to /, /api/images and a day page in turn; the
server's RSS (from /proc/<pid>/status) is read after a warm-up and after the requests.
Target: it grows at most 20 MB.

Run from the repository root: ``.venv/bin/python bench/web_memory.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.queries import ImageRecord
from gatecam.model import ImageRef
from gatecam.storage.base import image_key
from gatecam.storage.local import write_atomic

REQUESTS = 1_500
QUERY_BYTES = 20_000
WARMUP = 30
IMAGES = 12
TARGET_MB = 20.0
DAY = datetime(2025, 9, 2, 12, tzinfo=UTC)


def build(root: Path, db_url: str) -> None:
    """A few images of one stream, one day, written and indexed as the downloader does."""
    db = Database(db_url)
    try:
        upgrade(db)
        records = []
        for n in range(IMAGES):
            ts = DAY + timedelta(minutes=10 * n)
            buffer = io.BytesIO()
            Image.new("RGB", (640, 360), (n * 20 % 256, 90, 160)).save(buffer, "JPEG")
            data = buffer.getvalue()
            key = image_key(ImageRef("apm", "in_gate", ts))
            write_atomic(root / key, data)
            sha = hashlib.sha256(data).hexdigest()
            records.append(ImageRecord("apm", "in_gate", key, ts, len(data), sha))
        with db.session_scope() as session:
            queries.insert_images(session, records)
    finally:
        db.dispose()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatecam-web-memory-") as tmp:
        root, db_url = Path(tmp) / "images", f"sqlite:///{tmp}/gatecam.db"
        build(root, db_url)
        port = free_port()
        env = {**os.environ, "GATECAM_DATABASE_URL": db_url, "GATECAM_DOWNLOAD_DIR": str(root)}
        command = [sys.executable, "-m", "gatecam", "web", "--port", str(port), "--tz", "UTC"]
        server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        routes = ["/", "/api/images", f"/apm/in_gate/{DAY:%Y-%m-%d}"]
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        client.get("/healthz")
                        break
                    except httpx.TransportError:
                        if server.poll() is not None or time.monotonic() > deadline:
                            raise SystemExit("gatecam web did not start") from None
                        time.sleep(0.1)

                def ask(n: int) -> None:
                    path = routes[n % len(routes)]
                    junk = f"{n:06d}".ljust(QUERY_BYTES, "x")
                    answer = client.get(f"{path}?q{n}={junk}")
                    if answer.status_code != 200:
                        raise SystemExit(f"{path}: {answer.status_code} {answer.text[:200]}")

                for n in range(WARMUP):
                    ask(n)
                before = rss_mb(server.pid)
                started = time.monotonic()
                for n in range(WARMUP, WARMUP + args.requests):
                    ask(n)
                took = time.monotonic() - started
                after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    growth = after - before
    print(
        f"{args.requests} requests with distinct {QUERY_BYTES // 1000} KB query strings over "
        f"{', '.join(routes)} in {took:.1f} s"
    )
    print(f"server RSS: {before:.1f} MB -> {after:.1f} MB, growth {growth:+.1f} MB")
    verdict = "target met" if growth <= TARGET_MB else "TARGET MISSED"
    print(f"growth at most {TARGET_MB:g} MB: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
