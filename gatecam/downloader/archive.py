"""Where archived images live on disk, and how they get there without partial files.

Layout: ``<download_dir>/<key>``, the storage key of gatecam.storage.base
(``<terminal>/<stream>/<YYYY-MM-DD>/<HHMMSS>.jpg``, UTC), so a path parses back to its image
and files can be reconciled with the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from gatecam.model import ImageRef
from gatecam.storage.base import IMAGE_SUFFIX, image_key, parse_image_key

PART_SUFFIX = ".part"


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file.

    The bytes go to ``.<name>.<random>.part`` beside ``path`` (same file system, so
    ``os.replace`` is atomic) and are fsynced first; the directory is fsynced after so the
    rename survives a power cut. On any OSError (e.g. ENOSPC) the temporary file is removed
    and the error re-raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{PART_SUFFIX}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_partials(download_dir: Path) -> int:
    """Delete every ``*.part`` left under ``download_dir`` by a crash; return how many."""
    removed = 0
    for part in Path(download_dir).rglob(f"*{PART_SUFFIX}"):
        if part.is_file() or part.is_symlink():
            # Another process may have cleaned up the same file meanwhile.
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
                removed += 1
    return removed


LOCK_NAME = ".gatecam.lock"


class WriterLock:
    """Held, shared, by every gatecam process that writes into one archive folder.

    A ``.part`` file is only stale when no other writer is alive, so partial files are
    removed only by a process that manages to take the lock exclusively; the kernel drops
    the lock of a killed process (issue 3, item 1).
    """

    def __init__(self, download_dir: Path) -> None:
        self.download_dir = Path(download_dir)
        self._fd: int | None = None

    def acquire(self) -> int:
        """Join the writers; first remove stale partial files if alone. Return how many."""
        if self._fd is not None:
            return 0
        self.download_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.download_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        removed = 0
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another writer is alive: its .part files are in flight
        else:
            removed = remove_partials(self.download_dir)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._fd = fd
        return removed

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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


def is_complete_jpeg(data: bytes) -> bool:
    """Return True if ``data`` starts with a JPEG SOI marker and ends with its EOI marker."""
    return len(data) >= 5 and data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")
