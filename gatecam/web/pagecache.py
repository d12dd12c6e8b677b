"""Answers drawn once per state of the archive (the index page, /healthz, the archive gauges)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# The counters move with every stored batch and every run; a file that verify marks gone or
# retention deletes does not move them, so no page is kept longer than this.
MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class _Page(Generic[T]):
    version: Hashable
    made: float
    html: T


class PageCache(Generic[T]):
    """Rendered pages by request, each tagged with the archive state it shows.

    The page reads every stream's recent days and chart: tens of milliseconds at a million
    images, where the counters that say whether anything changed are one short read. When
    the state moves, one request renders the page again while the others are answered with
    the previous one meanwhile: under load, no queue of requests waits for one rendering.
    Only the first rendering of a page is waited for.

    At most ``capacity`` pages and as many gates are kept, the least recently asked for
    going first: every key a request can make costs memory until it is dropped. A gate
    dropped while held only lets one more request draw the same page beside it.
    """

    def __init__(self, capacity: int = 64, max_age: float = MAX_AGE_SECONDS) -> None:
        self.capacity = capacity
        self.max_age = max_age
        self._pages: OrderedDict[Hashable, _Page[T]] = OrderedDict()
        self._lock = threading.Lock()
        self._gates: OrderedDict[Hashable, threading.Lock] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def gates(self) -> int:
        """How many keys hold a gate now (never more than ``capacity``)."""
        return len(self._gates)

    def get(self, key: Hashable, version: Hashable, render: Callable[[], T]) -> T:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
                if page.version == version and time.monotonic() - page.made <= self.max_age:
                    return page.html
            gate = self._gates.setdefault(key, threading.Lock())
            self._gates.move_to_end(key)
            while len(self._gates) > self.capacity:
                self._gates.popitem(last=False)
        if page is not None and not gate.acquire(blocking=False):
            return page.html  # another request is drawing the new state right now
        if page is None:
            gate.acquire()
        try:
            with self._lock:
                latest = self._pages.get(key)
            if latest is not None and latest.version == version and latest is not page:
                return latest.html  # drawn by the request this one waited for
            html = render()
            with self._lock:
                self._pages[key] = _Page(version, time.monotonic(), html)
                self._pages.move_to_end(key)
                while len(self._pages) > self.capacity:
                    self._pages.popitem(last=False)
            return html
        finally:
            gate.release()
