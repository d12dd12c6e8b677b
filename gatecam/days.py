"""What "a day" is: midnight to midnight in one zone (GATECAM_TIMEZONE), for every command.

The site lists a camera's images per UTC date and the archive keeps them in UTC-day
folders; people ask about local days ("14:30 last Tuesday"). A local day spans parts of two
UTC dates (Los Angeles: from 07:00 or 08:00 UTC to the same hour the next date), so each
reader turns the day asked for into a UTC span, and the downloader lists every UTC date of
the site that span touches.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gatecam.errors import InputError

# The Dray Dog site's own zone: its ports are in Los Angeles and Long Beach.
DEFAULT_TIMEZONE = "America/Los_Angeles"
# The years a day or time may name: far from both ends of what datetime and the zone
# database can convert.
YEARS = range(1970, 3000)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises InputError with one line if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InputError(f"unknown time zone {name!r}: use an IANA name like UTC") from None


def day_start(day: date, where: tzinfo) -> datetime:
    """Local midnight starting ``day`` in ``where``, as an aware UTC datetime."""
    return datetime.combine(day, time(), tzinfo=where).astimezone(UTC)


def day_bounds(day: date, where: tzinfo) -> tuple[datetime, datetime]:
    """The UTC start and end of ``day`` as lived in ``where`` (23 or 25 hours on DST days)."""
    return day_start(day, where), day_start(day + timedelta(days=1), where)


def span_bounds(first: date, last: date, where: tzinfo) -> tuple[datetime, datetime]:
    """The UTC start of local day ``first`` and end of local day ``last``."""
    return day_start(first, where), day_start(last + timedelta(days=1), where)


def today(where: tzinfo, now: datetime | None = None) -> date:
    """The local date in ``where`` at ``now`` (default: this moment)."""
    return (now or datetime.now(UTC)).astimezone(where).date()


def site_dates(first: date, last: date, where: tzinfo, now: datetime | None = None) -> list[date]:
    """The UTC dates the local days ``first`` to ``last`` touch, up to today's UTC date.

    A UTC date past today has nothing listed yet; a local day ending exactly at a UTC
    midnight (zones at whole-day offsets, UTC itself) does not touch the next date.
    """
    start, end = span_bounds(first, last, where)
    newest = (end - timedelta(microseconds=1)).date()
    newest = min(newest, (now or datetime.now(UTC)).astimezone(UTC).date())
    return [start.date() + timedelta(days=n) for n in range((newest - start.date()).days + 1)]


def local_time(moment: datetime, where: tzinfo) -> datetime:
    """``moment`` as an aware datetime: its own offset if it has one, else local in ``where``."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=where)


def offset(moment: datetime) -> str:
    """``-07:00`` for an aware ``moment``: how a printed time shows its zone."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
