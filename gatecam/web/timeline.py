"""Time on the archive page: zones, local days, gaps; the reads are in gatecam.database.browse."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gatecam.database.browse import Shot, Stream
from gatecam.days import YEARS, day_bounds, local_time, zone
from gatecam.errors import InputError
from gatecam.health.coverage import GAP

__all__ = ["GAP", "NEAR", "DayGap", "Recent", "Shot", "Stream", "day_bounds", "zone"]

# Farther than this, the nearest image says little about the moment asked for.
NEAR = timedelta(minutes=30)
RECENT_DAYS = 14
# A '+' in an unencoded query string arrives as a space, hence "[+ -]" before the offset.
_TIME = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>Z|[+ -]\d{2}:?\d{2})?"
)
TIME_HELP = "e.g. 2025-09-02T14:30, or 2025-09-02T14:30:00-07:00 with an offset"


def parse_day(text: str) -> date | None:
    """The date in ``text`` (already matched as YYYY-MM-DD), or None if there is no such day."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.year in YEARS else None


_PATH_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def path_day(text: str) -> date | None:
    """The day a URL segment names as YYYY-MM-DD, or None if it names none."""
    return parse_day(text) if _PATH_DAY.fullmatch(text) else None


def parse_shown_time(text: str, display: ZoneInfo) -> datetime:
    """``time`` as an aware datetime: its own offset if it has one, else local in ``display``."""
    match = _TIME.fullmatch(text.strip())
    day = parse_day(match["day"]) if match else None
    if match is None or day is None:
        raise InputError(f"time {text!r} is not a date and time ({TIME_HELP})")
    offset = (match["offset"] or "").replace(" ", "+")
    try:
        moment = datetime.fromisoformat(f"{match['day']}T{match['clock']}{offset}")
    except ValueError:
        raise InputError(f"time {text!r} is not a date and time ({TIME_HELP})") from None
    return local_time(moment, display)


@dataclass(frozen=True)
class DayGap:
    """A stretch with no image; ``open_end`` means it runs up to now (the day is not over)."""

    start: datetime
    end: datetime
    from_day_start: bool = False
    to_day_end: bool = False
    open_end: bool = False

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def recent_days(newest_image: datetime | None, now: datetime, zone: ZoneInfo) -> list[date]:
    """The days to list for a stream, newest first.

    They end today while the newest image is recent, so an outage shows as empty days; for
    an archive that stopped long ago they end at its last day instead of a row of zeros.
    """
    today = now.astimezone(zone).date()
    last = today
    if newest_image is not None:
        newest_day = newest_image.astimezone(zone).date()
        if newest_day < today - timedelta(days=RECENT_DAYS - 1):
            last = newest_day
    return [last - timedelta(days=n) for n in range(RECENT_DAYS)]


@dataclass(frozen=True)
class Recent:
    """A stream on the index page: its counters, newest image, and images per recent day.

    A day's count is None when the whole day lies before the archive of the stream began.
    """

    stream: Stream
    newest: datetime | None
    began: datetime | None
    days: list[tuple[date, int | None]]
    # The newest held image, shown above the counts, and since when the camera is frozen.
    latest: Shot | None = None
    frozen_since: datetime | None = None


def before_archive(day_end: datetime, began: datetime | None) -> bool:
    """Whether a day ending at ``day_end`` was over before the archive began."""
    return began is None or day_end <= began


def timeline(
    shots: list[Shot],
    start: datetime,
    end: datetime,
    now: datetime,
    began: datetime | None = None,
) -> list[Shot | DayGap]:
    """The shots with a DayGap wherever more than GAP passed without an image that is still held.

    The end of the day only counts once it is over; on the current day the silence up to
    now is shown as an open gap. Nothing before ``began`` (the archive's start) is a gap.
    """
    if began is not None and began > start:
        if began >= min(end, now):
            return list(shots)
        previous, from_start = began, False
    else:
        previous, from_start = start, True
    if now <= start:
        return list(shots)
    items: list[Shot | DayGap] = []
    for shot in shots:
        if shot.missing:
            items.append(shot)
            continue
        if shot.timestamp - previous > GAP:
            items.append(DayGap(previous, shot.timestamp, from_day_start=from_start))
        items.append(shot)
        previous, from_start = shot.timestamp, False
    last = min(end, now)
    if last - previous > GAP:
        items.append(DayGap(previous, last, from_start, to_day_end=now >= end, open_end=now < end))
    return items
