"""Which images the stand-in site holds: a fixed schedule per stream and day, plus extras."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from gatecam.model import check_name

# Like the real site: an image about every 8 to 12 minutes, irregular
# seconds, and now and then a gap while a camera is offline.
_STEP_SECONDS = (8 * 60, 12 * 60)
_GAP_CHANCE = 0.03
_GAP_SECONDS = (20 * 60, 60 * 60)
# The streams that have cameras, on every terminal. Another name is a camera the site does
# not have: like a real site, its page opens with an empty History, never with images
# (unless a test adds some to it).
CAMERAS = frozenset({"in_gate", "out_gate"})


@lru_cache(maxsize=512)
def _schedule(terminal: str, stream: str, day: date) -> tuple[datetime, ...]:
    """All capture times of one stream on one day, oldest first, the same in every process."""
    # random.Random(str) seeds from a SHA-512 of the string; hash() would differ per process.
    rng = random.Random(f"{terminal}/{stream}/{day}")
    midnight = datetime.combine(day, time(), UTC)
    second = rng.randint(0, _STEP_SECONDS[1] - 1)
    times: list[datetime] = []
    while second < 86400:
        if rng.random() < _GAP_CHANCE:
            second += rng.randint(*_GAP_SECONDS)
            continue
        times.append(midnight + timedelta(seconds=second))
        second += rng.randint(*_STEP_SECONDS)
    return tuple(times)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value.isoformat()} has no time zone (UTC expected)")
    return value.astimezone(UTC)


class Catalogue:
    """The images of every (terminal, stream, day): scheduled ones plus those added by tests."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        history_days: int = 60,
        publish_delay: timedelta = timedelta(seconds=60),
        scheduled: bool = True,
        camera_faults: bool | None = None,
        cameras: Collection[str] = CAMERAS,
    ) -> None:
        """``scheduled=False`` holds only the images tests add, e.g. exactly 60 on a day.

        ``cameras`` are the stream names with scheduled images, on every terminal.

        ``camera_faults``: whether the cameras have their daily frozen and black stretches
        (standin.images); by default a scheduled site has them, and a site holding
        only the images a test adds shows those as ordinary pictures.
        """
        self.camera_faults = scheduled if camera_faults is None else camera_faults
        self._clock = clock or (lambda: datetime.now(UTC))
        self.history_days = history_days
        self.publish_delay = publish_delay
        self.scheduled = scheduled
        self.cameras = frozenset(cameras)
        self._lock = threading.Lock()
        self._extra: dict[tuple[str, str, date], set[datetime]] = {}

    def now(self) -> datetime:
        """The catalogue's current time (aware UTC)."""
        return _utc(self._clock())

    def today(self) -> date:
        return self.now().date()

    def add(self, terminal: str, stream: str, timestamp: datetime) -> None:
        """Add one image, published as soon as the clock reaches ``timestamp``."""
        check_name(terminal, "terminal")
        check_name(stream, "stream")
        # CDN URLs name whole seconds, so an image can only be addressed to the second.
        ts = _utc(timestamp).replace(microsecond=0)
        with self._lock:
            self._extra.setdefault((terminal, stream, ts.date()), set()).add(ts)

    def remove(self, terminal: str, stream: str, timestamp: datetime) -> None:
        """Withdraw an added image, as a site that stops listing one does."""
        ts = _utc(timestamp).replace(microsecond=0)
        with self._lock:
            self._extra.get((terminal, stream, ts.date()), set()).discard(ts)

    def list(self, terminal: str, stream: str, day: date) -> list[datetime]:
        """Published timestamps of one stream on one day, newest first."""
        check_name(terminal, "terminal")
        check_name(stream, "stream")
        now = self.now()
        found: set[datetime] = set()
        on_schedule = self.scheduled and stream in self.cameras
        if on_schedule and (now.date() - day).days <= self.history_days:
            cutoff = now - self.publish_delay
            found.update(ts for ts in _schedule(terminal, stream, day) if ts <= cutoff)
        with self._lock:
            found.update(ts for ts in self._extra.get((terminal, stream, day), ()) if ts <= now)
        return sorted(found, reverse=True)

    def exists(self, terminal: str, stream: str, timestamp: datetime) -> bool:
        """Whether this image is published (listed on the page and served by the CDN)."""
        ts = _utc(timestamp)
        return ts in self.list(terminal, stream, ts.date())
