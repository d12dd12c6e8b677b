"""The default image store: a folder on this host, written atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from gatecam.errors import StorageError
from gatecam.storage.base import IMAGE_SUFFIX, parse_image_key


class LocalStore:
    """Images as files ``<root>/<key>``; a key never leaves the root."""

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

        write_atomic(self.path(key), data)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def size(self, key: str) -> int | None:
        try:
            path = self.path(key)
            return path.stat().st_size if path.is_file() else None
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def keys(self, prefix: str = "") -> Iterator[str]:
        # Walk one folder level at a time so a million files never sit in memory at once.
        yield from self._walk(self.root, "", prefix, depth=0)

    def _walk(self, folder: Path, rel: str, prefix: str, depth: int) -> Iterator[str]:
        if not folder.is_dir():
            return
        for child in sorted(folder.iterdir()):
            key = f"{rel}{child.name}"
            if depth < 3 and child.is_dir():
                if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                    yield from self._walk(child, key + "/", prefix, depth + 1)
            elif (
                depth == 3
                and child.name.endswith(IMAGE_SUFFIX)
                and key.startswith(prefix)
                and child.is_file()
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
