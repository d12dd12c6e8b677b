"""Small thumbnails for the day grid, made with Pillow once and kept in memory and on disk."""

from __future__ import annotations

import contextlib
import io
import logging
import os
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
    """Thumbnails by image id: the newest ``capacity`` in memory, every one in ``folder``.

    Images never change, so a thumbnail is never stale; the folder keeps them across
    restarts, so each is decoded and scaled once. A folder that cannot be written (a web
    server with read-only access to the archive) only costs the disk copy.
    """

    def __init__(self, capacity: int = 1024, folder: Path | None = None) -> None:
        self.capacity = capacity
        self.folder = folder
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def get(self, image_id: int, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if image_id in self._items:
                self._items.move_to_end(image_id)
                return self._items[image_id]
        # Made outside the lock: two requests may both make it, which is harmless.
        thumb = self._load(image_id)
        if thumb is None:
            thumb = make()
            self._save(image_id, thumb)
        with self._lock:
            self._items[image_id] = thumb
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return thumb

    def _path(self, image_id: int) -> Path | None:
        # 1,000 ids per folder keeps directories small at millions of images.
        if self.folder is None:
            return None
        return self.folder / str(image_id // 1000) / f"{image_id}.jpg"

    def _load(self, image_id: int) -> bytes | None:
        path = self._path(image_id)
        try:
            return None if path is None else path.read_bytes()
        except OSError:
            return None

    def _save(self, image_id: int, thumb: bytes) -> None:
        path = self._path(image_id)
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
