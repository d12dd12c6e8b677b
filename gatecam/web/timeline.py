"""Time on the archive page: zones, local days, gaps, nearest images, and the reads behind them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from gatecam.database.models import DownloadRun, Image, StreamCounter
from gatecam.errors import InputError

# Images come every 8 to 12 minutes (shared/DRAYDOG.md): a longer silence is worth showing.
GAP = timedelta(minutes=20)
# Farther than this, the nearest image says little about the moment asked for.
NEAR = timedelta(minutes=30)
RECENT_DAYS = 14
# A '+' in an unencoded query string arrives as a space, hence "[+ -]" before the offset.
_TIME = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>Z|[+ -]\d{2}:?\d{2})?"
)
# Far from both ends of what datetime and the zone database can convert.
_YEARS = range(1970, 3000)
TIME_HELP = "e.g. 2025-09-02T14:30, or 2025-09-02T14:30:00-07:00 with an offset"


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises InputError with one line if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InputError(f"unknown time zone {name!r}: use an IANA name like UTC") from None


def parse_day(text: str) -> date | None:
    """The date in ``text`` (already matched as YYYY-MM-DD), or None if there is no such day."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.year in _YEARS else None


def parse_moment(text: str, display: ZoneInfo) -> datetime:
    """``time`` as an aware datetime: its own offset if it has one, else the display zone."""
    match = _TIME.fullmatch(text.strip())
    day = parse_day(match["day"]) if match else None
    if match is None or day is None:
        raise InputError(f"time {text!r} is not a date and time ({TIME_HELP})")
    offset = (match["offset"] or "").replace(" ", "+")
    try:
        moment = datetime.fromisoformat(f"{match['day']}T{match['clock']}{offset}")
    except ValueError:
        raise InputError(f"time {text!r} is not a date and time ({TIME_HELP})") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=display)


@dataclass(frozen=True)
class Stream:
    """One archived stream with its lifetime counters."""

    terminal: str
    stream: str
    total: int
    last_download: datetime | None


@dataclass(frozen=True)
class Shot:
    """One image row: its id, capture time, and whether verify found its file gone."""

    id: int
    timestamp: datetime
    missing: bool = False


@dataclass(frozen=True)
class Gap:
    """A stretch with no image; ``open_end`` means it runs up to now (the day is not over)."""

    start: datetime
    end: datetime
    from_day_start: bool = False
    to_day_end: bool = False
    open_end: bool = False

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def streams(session: Session) -> list[Stream]:
    """Every stream that has counters (any image or run), by terminal and name."""
    rows = session.scalars(
        select(StreamCounter).order_by(StreamCounter.terminal, StreamCounter.camera_id)
    )
    return [Stream(c.terminal, c.camera_id, c.total, c.last_download) for c in rows]


def newest(session: Session, terminal: str, stream: str) -> datetime | None:
    """The capture time of the stream's newest image (one step down the unique index)."""
    return session.scalar(
        select(func.max(Image.timestamp)).where(
            Image.terminal == terminal, Image.camera_id == stream
        )
    )


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start and end of ``day`` as lived in ``zone`` (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


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


def day_counts(
    session: Session, terminal: str, stream: str, days: list[date], zone: ZoneInfo
) -> dict[date, int]:
    """Images per local day, in one range scan of the (terminal, stream, timestamp) index."""
    if not days:
        return {}
    ordered = sorted(days)
    ends = [day_bounds(day, zone)[1] for day in ordered]
    start = day_bounds(ordered[0], zone)[0]
    # Each row gets the index of the first day whose end lies after it.
    bucket = case(*((Image.timestamp < end, n) for n, end in enumerate(ends))).label("n")
    rows = (
        select(bucket)
        .where(
            Image.terminal == terminal,
            Image.camera_id == stream,
            Image.timestamp >= start,
            Image.timestamp < ends[-1],
        )
        .subquery()
    )
    # Grouped in an outer query: PostgreSQL does not see two CASEs with their own bound
    # parameters as the same expression in SELECT and GROUP BY.
    counts = session.execute(select(rows.c.n, func.count()).group_by(rows.c.n))
    found = {int(n): int(count) for n, count in counts if n is not None}
    return {day: found.get(n, 0) for n, day in enumerate(ordered)}


@dataclass(frozen=True)
class Recent:
    """A stream on the index page: its counters, newest image, and images per recent day."""

    stream: Stream
    newest: datetime | None
    days: list[tuple[date, int]]


def recent(session: Session, stream: Stream, now: datetime, zone: ZoneInfo) -> Recent:
    """The stream's newest image and its images per day over the recent days, newest first."""
    newest_image = newest(session, stream.terminal, stream.stream)
    days = recent_days(newest_image, now, zone)
    counts = day_counts(session, stream.terminal, stream.stream, days, zone)
    return Recent(stream, newest_image, [(day, counts[day]) for day in days])


def shots_between(
    session: Session, terminal: str, stream: str, start: datetime, end: datetime
) -> list[Shot]:
    """The stream's images captured in [start, end), oldest first."""
    rows = session.execute(
        select(Image.id, Image.timestamp, Image.missing_since)
        .where(
            Image.terminal == terminal,
            Image.camera_id == stream,
            Image.timestamp >= start,
            Image.timestamp < end,
        )
        .order_by(Image.timestamp)
    )
    return [Shot(row.id, row.timestamp, row.missing_since is not None) for row in rows]


def timeline(shots: list[Shot], start: datetime, end: datetime, now: datetime) -> list[Shot | Gap]:
    """The shots with a Gap wherever more than GAP passed without an image that is still held.

    The end of the day only counts once it is over; on the current day the silence up to
    now is shown as an open gap.
    """
    if now <= start:
        return list(shots)
    items: list[Shot | Gap] = []
    previous, from_start = start, True
    for shot in shots:
        if shot.missing:
            items.append(shot)
            continue
        if shot.timestamp - previous > GAP:
            items.append(Gap(previous, shot.timestamp, from_day_start=from_start))
        items.append(shot)
        previous, from_start = shot.timestamp, False
    last = min(end, now)
    if last - previous > GAP:
        items.append(Gap(previous, last, from_start, to_day_end=now >= end, open_end=now < end))
    return items


def _neighbour(
    session: Session, terminal: str, stream: str, where: ColumnElement[bool], *, older: bool
) -> Shot | None:
    order = Image.timestamp.desc() if older else Image.timestamp.asc()
    row = session.execute(
        select(Image.id, Image.timestamp)
        .where(
            Image.terminal == terminal,
            Image.camera_id == stream,
            Image.missing_since.is_(None),
            where,
        )
        .order_by(order)
        .limit(1)
    ).first()
    return None if row is None else Shot(row.id, row.timestamp)


def shot_before(
    session: Session, terminal: str, stream: str, moment: datetime, *, inclusive: bool = True
) -> Shot | None:
    """The newest held image captured before ``moment`` (or at it, if ``inclusive``)."""
    where = Image.timestamp <= moment if inclusive else Image.timestamp < moment
    return _neighbour(session, terminal, stream, where, older=True)


def shot_after(session: Session, terminal: str, stream: str, moment: datetime) -> Shot | None:
    """The oldest held image captured after ``moment``."""
    return _neighbour(session, terminal, stream, Image.timestamp > moment, older=False)


def recent_runs(session: Session, limit: int = 10) -> list[DownloadRun]:
    """The newest download runs; ids grow with time, so the primary key orders them."""
    return list(session.scalars(select(DownloadRun).order_by(DownloadRun.id.desc()).limit(limit)))


def image_file(session: Session, image_id: int, download_dir: Path) -> Path | None:
    """The file of image ``image_id`` under ``download_dir``, or None if it has none there.

    The path comes from the database row only, and one that would leave the archive
    (absolute, or with ``..``) is refused, so no request can reach another file.
    """
    filepath = session.scalar(select(Image.filepath).where(Image.id == image_id))
    if filepath is None:
        return None
    relative = PurePosixPath(filepath)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        return None
    path = Path(download_dir, *relative.parts)
    return path if path.is_file() else None
