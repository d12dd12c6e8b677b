"""The image store protocol and the key layout shared by every backend.

Key: ``<terminal>/<stream>/<YYYY-MM-DD>/<HHMMSS>.jpg`` (UTC). The (terminal, stream,
timestamp) triple identifies an image, so the key is a pure function of
it and parses back, which lets files written while the database was away get their rows later.
Rows store this key in ``images.filepath``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, Protocol

from gatecam.model import ImageRef, is_name

IMAGE_SUFFIX = ".jpg"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{6}")


def day_prefix(terminal: str, stream: str, day: date) -> str:
    """The prefix of every key of one stream's (UTC) day."""
    return f"{terminal}/{stream}/{day.isoformat()}/"


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


@dataclass(frozen=True)
class Leftover:
    """An entry of a store that is no image of it."""

    name: str  # relative to the store, with "/": what ``quarantine`` and ``remove`` take
    reason: str
    # "partial": a write a crashed writer left (safe to remove); "unsafe": must not stay (a
    # symlink, a FIFO, a device); "stray": a file or folder that harms nothing (only reported).
    kind: Literal["partial", "unsafe", "stray"]
    where: str  # for people: a full path or address


@dataclass(frozen=True)
class Fingerprint:
    """What a stored entry holds: its size and, when asked for, its digest and JPEG check."""

    size: int
    sha256: str | None = None
    # None when not judged: a file a row names outside the key layout may be any file.
    complete_jpeg: bool | None = None


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

    def derived_folder(self, name: str) -> Path | None:
        """A local folder for files made from the images (thumbnails), outside the key layout.

        None when the store has no disk of this host (a bucket): such files then stay in memory.
        """
        ...

    def check(self) -> None:
        """Raise StorageError with a one-line reason if the store cannot be used."""
        ...

    # -- life cycle: a writing process opens the store before its first put, closes it last --

    def open(self) -> None:
        """Join the writers of this store; raise StorageError (or Unavailable) if it is unusable.

        Leftovers of a writer that crashed are cleared here when no other writer is alive.
        Opening an open store does nothing.
        """
        ...

    def close(self) -> None:
        """Leave the writers; closing a closed store does nothing."""
        ...

    def exists(self) -> bool:
        """Whether the store is there to be read, creating nothing.

        A reader checks this first: a wrong or unmounted location would make every image look
        missing. Raises StorageError (or Unavailable) if the answer cannot be had.
        """
        ...

    def prune(self, terminal: str, stream: str, through: date) -> None:
        """Remove the stream's emptied day folders up to and including ``through``.

        Later days may be about to receive an image. A store without folders does nothing.
        """
        ...


class UpkeepStore(ImageStore, Protocol):
    """A store ``gatecam verify`` can check and repair: what it asks beyond the pipeline's.

    A backend for archiving and reading alone implements ImageStore; ``open_store`` hands
    out stores that implement this too.
    """

    def fingerprint(self, name: str, *, digest: bool) -> Fingerprint:
        """Size of what ``name`` holds, and with ``digest`` its sha256 and JPEG check.

        ``name`` is what an image row holds: an image key, or for a folder also a path
        saved through the Python API. Raises FileNotFoundError if nothing is there,
        ValueError if the store cannot hold such a name, OSError if it cannot be read.
        """
        ...

    def aliases(self, key: str) -> list[str]:
        """Every filepath an image row naming the image at ``key`` may hold."""
        ...

    def leftovers(self, terminal: str | None, partial_before: datetime) -> Iterator[Leftover]:
        """What the store holds that is no image (of ``terminal``'s, if given), by name.

        Partial writes younger than ``partial_before`` are not listed: they may be in flight.
        """
        ...

    def remove(self, leftover: Leftover) -> None:
        """Delete a partial write ``leftovers`` listed; no error if it is already gone."""
        ...

    def quarantine(self, name: str, reason: str) -> str:
        """Move the entry ``name`` (an image key or a leftover) out of the archive, with why.

        Never overwrites an entry quarantined earlier. Returns where it went; raises
        FileNotFoundError if nothing is there, OSError if it cannot be moved.
        """
        ...

    def quarantine_where(self) -> str:
        """Where quarantined entries go and where their reasons are kept, for people."""
        ...
