"""Small thumbnails for the day grid, made with Pillow once and kept in memory and on disk."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

# Twice the grid's 240x135 tiles would be sharp on a high-density screen, yet ~10x smaller
# than the 128 KB full image; 320 px is the compromise for a long grid.
SIZE = (320, 180)
_QUALITY = 75
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a sha256 as stored: 64 lowercase hex digits, safe as a file name."""
    return _SHA256.fullmatch(text) is not None


def make_thumbnail(data: bytes) -> bytes:
    """A JPEG no larger than SIZE, keeping the aspect; raises ValueError if ``data`` is no image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", SIZE)  # JPEG decodes at a reduced scale: far less work
            small = image.convert("RGB")
            small.thumbnail(SIZE)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image: {exc}") from None
    out = io.BytesIO()
    small.save(out, "JPEG", quality=_QUALITY, optimize=True)
    return out.getvalue()


class ThumbnailCache:
    """Thumbnails by the sha256 of their image: the newest ``capacity`` in memory, all on disk.

    Keyed by content, never by row id: a restored database can hand an id to another
    image, and a thumbnail kept by id would then show the old picture. The same bytes make
    the same thumbnail, so one kept by hash is never stale; the folder keeps them across
    restarts, so each is decoded and scaled once. A folder that cannot be written (a web
    server with read-only access to the archive) only costs the disk copy.
    """

    def __init__(self, capacity: int = 1024, folder: Path | None = None) -> None:
        self.capacity = capacity
        self.folder = folder
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def __len__(self) -> int:
        return len(self._items)

    def get(self, sha256: str, make: Callable[[], bytes]) -> bytes:
        """The thumbnail of the image whose bytes hash to ``sha256`` (64 hex digits)."""
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        with self._lock:
            if sha256 in self._items:
                self._items.move_to_end(sha256)
                return self._items[sha256]
        # Made outside the lock: two requests may both make it, which is harmless.
        thumb = self._load(sha256)
        if thumb is None:
            thumb = make()
            self._save(sha256, thumb)
        with self._lock:
            self._items[sha256] = thumb
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return thumb

    def _path(self, sha256: str) -> Path | None:
        # 256 folders of the first two digits keep directories small at millions of images.
        if self.folder is None:
            return None
        return self.folder / sha256[:2] / f"{sha256}.jpg"

    def _load(self, sha256: str) -> bytes | None:
        path = self._path(sha256)
        try:
            return None if path is None else path.read_bytes()
        except OSError:
            return None

    def _save(self, sha256: str, thumb: bytes) -> None:
        path = self._path(sha256)
        if path is None:
            return
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader never sees half a thumbnail.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(thumb)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if not self._warned:
                log.warning("web: thumbnails are not kept on disk in %s: %s", self.folder, exc)
                self._warned = True
