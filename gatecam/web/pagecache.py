"""The index page, rendered once per state of the archive and reused until the state moves."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

# The counters move with every stored batch and every run; a file that verify marks gone or
# retention deletes does not move them, so no page is kept longer than this.
MAX_AGE_SECONDS = 60.0


class PageCache:
    """Rendered pages by (request, fingerprint of the archive's counters).

    The page reads every stream's recent days and chart: tens of milliseconds, where the
    counters that say whether anything changed are one short read. Under load many requests
    share one rendering; one thread renders while the others wait for its result.
    """

    def __init__(self, capacity: int = 64, max_age: float = MAX_AGE_SECONDS) -> None:
        self.capacity = capacity
        self.max_age = max_age
        self._pages: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._rendering: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, render: Callable[[], str]) -> str:
        page = self._fresh(key)
        if page is not None:
            return page
        with self._lock:
            gate = self._rendering.setdefault(key, threading.Lock())
        with gate:
            page = self._fresh(key)  # rendered by another thread while this one waited
            if page is None:
                page = render()
                with self._lock:
                    self._pages[key] = (time.monotonic(), page)
                    while len(self._pages) > self.capacity:
                        self._pages.popitem(last=False)
        with self._lock:
            self._rendering.pop(key, None)
        return page

    def _fresh(self, key: Hashable) -> str | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None or time.monotonic() - found[0] > self.max_age:
                return None
            self._pages.move_to_end(key)
            return found[1]
