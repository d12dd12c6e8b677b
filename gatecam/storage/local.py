"""The default image store: a folder on this host, written atomically.

A file is written under a ``.<name>.<hex>.part`` name and renamed into place, so a reader sees
nothing or the whole image. Every gatecam process writing into the folder holds a shared
``WriterLock`` (storage/ownership.py); leftover temporary files are removed only by a process
that is alone, since another writer's are in flight, and only gatecam's own: other files in
the folder are never deleted. ``/``, system folders and the home folder are refused as the
archive folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from operator import attrgetter
from pathlib import Path
from typing import Literal

from gatecam.errors import StorageError
from gatecam.storage.base import (
    IMAGE_SUFFIX,
    Fingerprint,
    Leftover,
    is_complete_jpeg,
    parse_image_key,
)
from gatecam.storage.ownership import WriterLock, mark, refuse_shared_folder
from gatecam.storage.quarantine import (
    LOG_NAME,
    Quarantine,
    own_parts,
    part_name,
    scan,
)
from gatecam.storage.quarantine import (
    PART_SUFFIX as PART_SUFFIX,
)

logger = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or chunks of them) to ``path``; readers see nothing or all of it.

    The bytes go to ``.<name>.<hex>.part`` beside ``path`` (same file system, so ``os.replace``
    is atomic), fsynced, then the directory is fsynced so the rename survives a power cut.
    On any error (ENOSPC, a stop mid-way) the temporary file is removed, the error re-raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(part_name(path.name, secrets.token_hex(6)))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for chunk in [data] if isinstance(data, bytes) else data:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
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


# Opening a directory level by level with O_NOFOLLOW means no symlink below the root (to a
# file, or a day folder pointing elsewhere) is ever followed, whatever a row or a key names.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO named like an image must not hang the reader.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalStore:
    """Images as files ``<root>/<key>``; a key never leaves the root, nor follows a symlink."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = WriterLock(self.root)

    def path(self, key: str) -> Path:
        if parse_image_key(key) is None:
            raise ValueError(f"not an image key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if link := _linked_folder(path):
            raise OSError(
                errno.ELOOP, f"{link} is a symlink (gatecam verify --repair moves it aside)"
            )
        write_atomic(path, data)

    def reader(self, key: str) -> io.BufferedReader:
        """The image file of ``key``, opened for reading without following any symlink.

        Raises FileNotFoundError when there is no regular file at the key inside the root (a
        symlink, a folder or a FIFO counts as none), ValueError if ``key`` is not an image key.
        """
        *folders, name = self.path(key).relative_to(self.root).parts
        dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for folder in folders:
                inner = os.open(folder, _DIR_FLAGS, dir_fd=dir_fd)
                os.close(dir_fd)
                dir_fd = inner
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise FileNotFoundError(errno.ENOENT, "a symlink, not a file", key) from None
            raise
        finally:
            os.close(dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "not a regular file", key)
        os.set_blocking(fd, True)
        return io.BufferedReader(io.FileIO(fd, "rb"))

    def get(self, key: str) -> bytes:
        with self.reader(key) as handle:
            return handle.read()

    def size(self, key: str) -> int | None:
        try:
            with self.reader(key) as handle:
                return os.fstat(handle.fileno()).st_size
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        path = self.path(key)
        if _linked_folder(path):
            return  # the file is outside the archive: not ours to delete
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # unlinks a symlink itself, never its target

    def keys(self, prefix: str = "") -> Iterator[str]:
        # Straight down to the deepest folder the prefix names whole, so listing one stream's
        # day reads that day's folder only, not every terminal's and stream's folder: the
        # job lists each stream of a tick, and 1,000 streams made that quadratic.
        folder, rel = self.root, ""
        folders = prefix.split("/")[:-1][:3]
        for name in folders:
            if name in _NOT_A_FOLDER:
                return  # no key holds such a segment
            path = folder / name
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return
            if not stat.S_ISDIR(mode):
                return  # a symlinked folder is no part of this archive: never listed
            folder, rel = path, f"{rel}{name}/"
        # Walk one folder level at a time so a million files never sit in memory at once.
        yield from self._walk(folder, rel, prefix, depth=len(folders))

    def _walk(self, folder: Path, rel: str, prefix: str, depth: int) -> Iterator[str]:
        # Symlinked folders and files are not images of this archive: never listed.
        try:
            with os.scandir(folder) as scan:
                children = sorted(scan, key=_NAME)
        except (FileNotFoundError, NotADirectoryError):
            return
        if depth == 3:
            yield from _day_images(rel, prefix, children)
            return
        for child in children:
            key = f"{rel}{child.name}"
            if child.is_dir(follow_symlinks=False) and (
                (key + "/").startswith(prefix) or prefix.startswith(key + "/")
            ):
                yield from self._walk(Path(child.path), key + "/", prefix, depth + 1)

    def describe(self) -> str:
        return str(self.root)

    def derived_folder(self, name: str) -> Path | None:
        # A dot folder: the key walk, verify and retention never take it for images.
        return self.root / f".{name}"

    def check(self) -> None:
        """Raise StorageError if the folder cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.root}: {exc.strerror or exc}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"cannot write into {self.root}: permission denied")

    def open(self) -> None:
        """Create the folder if need be and join its writers (the shared ``WriterLock``).

        A process that finds itself alone first removes the ``.part`` files a crashed
        writer left: with another writer alive they may be downloads in flight.
        """
        if self._lock.held:
            return
        refuse_shared_folder(self.root)
        self.check()
        mark(self.root)
        removed = self._lock.acquire()
        if removed:
            logger.info("removed %d partial files left by an interrupted run", removed)

    def close(self) -> None:
        self._lock.release()

    def exists(self) -> bool:
        refuse_shared_folder(self.root)
        return self.root.is_dir()

    # -- what `gatecam verify` asks -------------------------------------------------------

    def fingerprint(self, name: str, *, digest: bool) -> Fingerprint:
        if parse_image_key(name) is not None:
            with self.reader(name) as handle:
                size = os.fstat(handle.fileno()).st_size
                if not digest:
                    return Fingerprint(size)
                sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
                return Fingerprint(size, sha256, _jpeg_ends(handle, size))
        # A row saved through the Python API may name its file relative to the folder or
        # absolutely; such a file is checked as it is, whatever it holds.
        path = Path(name)
        path = path if path.is_absolute() else self.root / path
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if not digest:
            return Fingerprint(info.st_size)
        with path.open("rb") as handle:
            return Fingerprint(info.st_size, hashlib.file_digest(handle, "sha256").hexdigest())

    def aliases(self, key: str) -> list[str]:
        return [key, str((self.root / key).absolute())]

    def leftovers(self, terminal: str | None, partial_before: datetime) -> Iterator[Leftover]:
        for part in own_parts(self.root, terminal):
            try:
                info = part.lstat()
            except FileNotFoundError:
                continue  # renamed into place meanwhile: it was a write in flight
            if stat.S_ISDIR(info.st_mode) or info.st_mtime > partial_before.timestamp():
                continue
            name = part.relative_to(self.root).as_posix()
            yield Leftover(name, "a partial write left by a crash", "partial", str(part))
        for finding in scan(self.root, terminal):
            kind: Literal["unsafe", "stray"] = "unsafe" if finding.unsafe else "stray"
            yield Leftover(finding.path, finding.reason, kind, str(self.root / finding.path))

    def remove(self, leftover: Leftover) -> None:
        if leftover.kind != "partial":
            raise ValueError(f"only partial writes are removed, not {leftover.name!r}")
        with contextlib.suppress(FileNotFoundError):
            (self.root / leftover.name).unlink()

    def quarantine(self, name: str, reason: str) -> str:
        return str(Quarantine(self.root).move(name, reason))

    def quarantine_where(self) -> str:
        return f"{Quarantine(self.root).folder} (reasons in {LOG_NAME})"

    def prune(self, terminal: str, stream: str, through: date) -> None:
        for folder in (self.root / terminal / stream).glob("????-??-??"):
            if folder.is_dir() and folder.name <= through.isoformat():
                with contextlib.suppress(OSError):  # something else lives there: keep it
                    folder.rmdir()


_NOT_A_FOLDER = frozenset(("", ".", ".."))
_NAME = attrgetter("name")
# HHMMSS.jpg of a time that exists: the name part parse_image_key accepts.
_IMAGE_NAME = re.compile(r"(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]" + re.escape(IMAGE_SUFFIX))


def _day_images(rel: str, prefix: str, children: list[os.DirEntry[str]]) -> Iterator[str]:
    """The image keys among the entries of the day folder ``rel``, in their order.

    What ``parse_image_key`` accepts, checked for the folder once and per file by its name
    alone: parsing each key's date and time took most of a 1,000-stream idle tick.
    """
    if parse_image_key(f"{rel}000000{IMAGE_SUFFIX}") is None:
        return  # not a day folder of the key layout
    for child in children:
        if (
            _IMAGE_NAME.fullmatch(child.name)
            and (key := f"{rel}{child.name}").startswith(prefix)
            and child.is_file(follow_symlinks=False)
        ):
            yield key


def _jpeg_ends(handle: io.BufferedReader, size: int) -> bool:
    """The ends ``is_complete_jpeg`` checks, read from an open file (five bytes)."""
    if size < 5:
        return False
    handle.seek(0)
    head = handle.read(3)
    handle.seek(size - 2)
    return is_complete_jpeg(head + handle.read(2))


def _linked_folder(path: Path) -> Path | None:
    """The terminal, stream or day folder of an image path that is a symlink, if any.

    Writing or deleting through one would reach outside the archive.
    """
    for folder in (path.parents[2], path.parents[1], path.parent):
        if folder.is_symlink():
            return folder
    return None
