"""Small thumbnails for the day grid, made with Pillow from the stored image and kept in memory."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

# Twice the grid's 240x135 tiles would be sharp on a high-density screen, yet ~10x smaller
# than the 128 KB full image (issue 7, item 5); 320 px is the compromise for a long grid.
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
    """The newest ``capacity`` thumbnails by image id; images never change, so never stale."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image_id: int, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if image_id in self._items:
                self._items.move_to_end(image_id)
                return self._items[image_id]
        # Made outside the lock: two requests may both make it, which is harmless.
        thumb = make()
        with self._lock:
            self._items[image_id] = thumb
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return thumb
