"""The image store protocol and the key layout shared by every backend.

Key: ``<terminal>/<stream>/<YYYY-MM-DD>/<HHMMSS>.jpg`` (UTC). The (terminal, stream,
timestamp) triple identifies an image (shared/DRAYDOG.md), so the key is a pure function of
it and parses back, which lets files written while the database was away get their rows later.
Rows store this key in ``images.filepath``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Protocol

from gatecam.model import ImageRef, is_name

IMAGE_SUFFIX = ".jpg"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{6}")


def image_key(ref: ImageRef) -> str:
    ts = ref.timestamp.astimezone(UTC)
    return f"{ref.terminal}/{ref.stream}/{ts:%Y-%m-%d}/{ts:%H%M%S}{IMAGE_SUFFIX}"


def parse_image_key(key: str) -> ImageRef | None:
    """The image ``key`` names, or None if it is not exactly an ``image_key``."""
    parts = key.split("/")
    if len(parts) != 4:
        return None
    terminal, stream, day, name = parts
    if not (is_name(terminal) and is_name(stream)):
        return None
    stem, suffix = name[: -len(IMAGE_SUFFIX)], name[-len(IMAGE_SUFFIX) :]
    if suffix != IMAGE_SUFFIX or not _DATE.fullmatch(day) or not _TIME.fullmatch(stem):
        return None
    try:
        ts = datetime.strptime(f"{day} {stem}", "%Y-%m-%d %H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return ImageRef(terminal=terminal, stream=stream, timestamp=ts)


def is_complete_jpeg(data: bytes) -> bool:
    """Return True if ``data`` starts with a JPEG SOI marker and ends with its EOI marker."""
    return len(data) >= 5 and data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")


class ImageStore(Protocol):
    """Image bytes by key. ``put`` is atomic: a reader sees nothing or the whole image."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data``; raises OSError (e.g. ENOSPC) with nothing partial left visible."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes; raises FileNotFoundError if there are none."""
        ...

    def size(self, key: str) -> int | None:
        """The stored size in bytes, or None if the key holds nothing."""
        ...

    def delete(self, key: str) -> None:
        """Remove the key; no error if it is already gone."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every image key under ``prefix`` (e.g. ``"apm/in_gate/2025-09-01/"``), sorted."""
        ...

    def describe(self) -> str:
        """Where the store is, for log lines (no secrets)."""
        ...

    def check(self) -> None:
        """Raise StorageError with a one-line reason if the store cannot be used."""
        ...
