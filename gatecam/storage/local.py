"""The default image store: a folder on this host, written atomically."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from gatecam.errors import StorageError
from gatecam.storage.base import IMAGE_SUFFIX, parse_image_key

# Opening a directory level by level with O_NOFOLLOW means no symlink below the root (to a
# file, or a day folder pointing elsewhere) is ever followed, whatever a row or a key names.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO named like an image must not hang the reader.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalStore:
    """Images as files ``<root>/<key>``; a key never leaves the root, nor follows a symlink."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if parse_image_key(key) is None:
            raise ValueError(f"not an image key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        # Imported here: gatecam.downloader imports this package, so a top-level import
        # would be circular.
        from gatecam.downloader.archive import write_atomic

        path = self.path(key)
        if link := _linked_folder(path):
            raise OSError(
                errno.ELOOP, f"{link} is a symlink (gatecam verify --repair moves it aside)"
            )
        write_atomic(path, data)

    def open(self, key: str) -> io.BufferedReader:
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
        with self.open(key) as handle:
            return handle.read()

    def size(self, key: str) -> int | None:
        try:
            with self.open(key) as handle:
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
        # Walk one folder level at a time so a million files never sit in memory at once.
        yield from self._walk(self.root, "", prefix, depth=0)

    def _walk(self, folder: Path, rel: str, prefix: str, depth: int) -> Iterator[str]:
        # Symlinked folders and files are not images of this archive: never listed.
        try:
            with os.scandir(folder) as scan:
                children = sorted(scan, key=lambda entry: entry.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for child in children:
            key = f"{rel}{child.name}"
            if depth < 3 and child.is_dir(follow_symlinks=False):
                if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                    yield from self._walk(Path(child.path), key + "/", prefix, depth + 1)
            elif (
                depth == 3
                and child.name.endswith(IMAGE_SUFFIX)
                and key.startswith(prefix)
                and child.is_file(follow_symlinks=False)
                and parse_image_key(key) is not None
            ):
                yield key

    def describe(self) -> str:
        return str(self.root)

    def check(self) -> None:
        """Raise StorageError if the folder cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.root}: {exc.strerror or exc}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"cannot write into {self.root}: permission denied")


def _linked_folder(path: Path) -> Path | None:
    """The terminal, stream or day folder of an image path that is a symlink, if any.

    Writing or deleting through one would reach outside the archive.
    """
    for folder in (path.parents[2], path.parents[1], path.parent):
        if folder.is_symlink():
            return folder
    return None
