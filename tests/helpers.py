"""Helpers shared by test modules: processes and waits, ports, the archive, the job's source.

Test modules import from here (and fixtures from the ``fixtures_*`` modules), never from one
another, so a test file can move or go without breaking its neighbours.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gatecam.cli import main
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.downloader.job import DownloadJob
from gatecam.downloader.scheduler import DownloadConfig, ImageDownloadScheduler
from gatecam.model import Clock, ImageRef, utc_now
from gatecam.sources.base import Source
from gatecam.sources.draydog.standin import CatalogueSource, StandIn
from gatecam.storage import LocalStore
from gatecam.storage.base import IMAGE_SUFFIX, image_key, parse_image_key

GATECAM = [sys.executable, "-m", "gatecam"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float = 60,
    proc: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail clearly at the deadline or if ``proc`` died.

    The deadline only bounds a hang: every wait is on a condition, so a slow machine makes
    a test slower, never wrong.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            output = log.read_text() if log else ""
            pytest.fail(f"gatecam exited ({proc.returncode}) before {what}:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def sqlite_statuses(db_file: Path) -> list[str]:
    """The status of every run in an SQLite file that another process may still be creating.

    A plain read-only connection: the file or its tables may not exist yet (that reads as no
    runs), and unlike a ``Database`` session it never takes the writer's lock.
    """
    if not db_file.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)) as conn:
            return [status for (status,) in conn.execute("SELECT status FROM download_runs")]
    except sqlite3.OperationalError:  # no such table yet, or the schema is being written
        return []


def gatecam(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the gatecam command to its end, with ``env`` over the test's environment."""
    return subprocess.run(
        [*GATECAM, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def simulate(*extra: str) -> Iterator[str]:
    """`gatecam simulate` in another process, answering; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}/_standin/requests", timeout=1).is_success
        return False

    # A file, not a pipe: a full pipe nobody reads would stall the site mid-test.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [*GATECAM, "simulate", "--port", str(port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            wait_for(answering, "gatecam simulate to answer", timeout=30, proc=proc)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode(errors="replace")


def listed(url: str, day: date, stream: str = "in_gate") -> list[datetime]:
    """What a stand-in in another process lists for ``stream`` on ``day``, oldest first."""
    answer = httpx.get(
        f"{url}/_standin/images", params={"terminal": "apm", "stream": stream, "date": str(day)}
    ).json()
    return sorted(datetime.fromisoformat(ts) for ts in answer["timestamps"])


def make_scheduler(
    database_url: str,
    download_dir: Path,
    standin: StandIn | None = None,
    *,
    source: Source | None = None,
    **kwargs: object,
) -> ImageDownloadScheduler:
    """A scheduler aimed at ``standin``; ``source`` replaces the browser-driven one."""
    urls = {"app_url": standin.app_url, "cdn_url": standin.cdn_url} if standin else {}
    config = DownloadConfig(
        database_url=database_url,
        download_dir=download_dir,
        **urls,
        **kwargs,
    )
    return ImageDownloadScheduler(config, source=source)


def archive_state(root: Path) -> dict[Path, tuple[int, int]]:
    """Each archived file with its inode and modification time: a rewrite changes them."""
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for _, path in iter_archive(root)}


def image_rows(database: Database) -> list[Image]:
    with database.session_scope() as session:
        return list(session.scalars(select(Image).order_by(Image.timestamp)))


@contextlib.contextmanager
def _mounted(directory: Path, args: list[str], what: str) -> Iterator[Path]:
    """``mount <args> <directory>`` for the block; the test is skipped where mounting is denied."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", *args, str(directory)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount {what}: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def mount_tmpfs(directory: Path, size: str = "1m") -> contextlib.AbstractContextManager[Path]:
    """A tiny tmpfs at ``directory``, so writes really hit ENOSPC."""
    args = ["-t", "tmpfs", "-o", f"size={size}", "tmpfs"]
    return _mounted(directory, args, "a tmpfs to simulate a full disk")


def mount_read_only(directory: Path) -> contextlib.AbstractContextManager[Path]:
    """``directory`` mounted read-only onto itself: writes fail even for root."""
    return _mounted(directory, ["--bind", "-o", "ro", str(directory)], "a read-only folder")


def image_path(download_dir: Path, ref: ImageRef) -> Path:
    """Return where ``ref`` is stored under ``download_dir``."""
    return Path(download_dir) / image_key(ref)


def parse_image_path(download_dir: Path, path: Path) -> ImageRef | None:
    """Return the image ``path`` holds, or None if it is not exactly an ``image_path``."""
    try:
        relative = Path(path).relative_to(download_dir)
    except ValueError:
        return None
    return parse_image_key(relative.as_posix())


def iter_archive(download_dir: Path) -> Iterator[tuple[ImageRef, Path]]:
    """Yield every archived image file under ``download_dir``, in path order.

    Walks one day folder at a time, so a million files never sit in memory at once.
    """
    download_dir = Path(download_dir)
    for terminal in _subfolders(download_dir):
        for stream in _subfolders(terminal):
            for day in _subfolders(stream):
                for path in sorted(day.glob(f"*{IMAGE_SUFFIX}")):
                    ref = parse_image_path(download_dir, path)
                    if ref is not None and path.is_file():
                        yield ref, path


def _subfolders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(child for child in folder.iterdir() if child.is_dir())


# Debian's Chromium, headless, as root in CI: no sandbox, no GPU, no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def add(site: StandIn, terminal: str, stream: str, day: date, count: int = 3) -> list[datetime]:
    stamps = [datetime.combine(day, datetime.min.time(), UTC) + timedelta(minutes=1)]
    stamps += [stamps[0] + timedelta(minutes=11 * n, seconds=n) for n in range(1, count)]
    for ts in stamps:
        site.catalogue.add(terminal, stream, ts)
    return stamps


class FixedClock:
    """A clock that says ``now`` until a test moves it: hand one to a catalogue and a job."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_job(
    database: Database,
    site: StandIn,
    tmp_path: Path,
    streams: list[str],
    *,
    clock: Clock = utc_now,
) -> tuple[DownloadJob, CatalogueSource]:
    source = CatalogueSource(site)
    config = DownloadConfig(
        streams=streams, database_url=database.url, download_dir=tmp_path / "images"
    )
    store = LocalStore(tmp_path / "images")
    return DownloadJob(config, database, source, store, clock=clock), source


def held(database: Database) -> set[tuple[str, str, datetime]]:
    with database.session_scope() as session:
        rows = session.execute(select(Image.terminal, Image.camera_id, Image.timestamp))
        return {(t, s, ts) for t, s, ts in rows if ts is not None}
