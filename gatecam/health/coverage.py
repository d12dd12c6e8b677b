"""How complete the archive is: per stream and hour, images held against the cadence, gaps.

Days run midnight to midnight in the report's zone (GATECAM_TIMEZONE), as in `export` and on
the web page, so one day holds the same images everywhere.

Three things are told apart: images held; images missed (the site listed them, the archive
could not store them, and the ledger says why); and gaps, where the site listed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any

from gatecam.database import browse, frames, missed
from gatecam.database.engine import Database
from gatecam.database.missed import MissedRecord
from gatecam.days import offset, span_bounds
from gatecam.errors import InputError

# Images come every 8 to 12 minutes (the site's cadence): a longer silence is worth showing.
GAP = timedelta(minutes=20)
HOUR = timedelta(hours=1)
# The longest report: a leap year. Longer ranges are asked for a year at a time.
MAX_DAYS = 366
# At most this many gaps per day in the human-readable lines; the JSON has them all.
_GAPS_PER_LINE = 3


def percent(held: int, expected: float) -> float | None:
    """Held against expected, capped at 100 (an hour with extra images is not over-complete)."""
    if expected <= 0:
        return None
    return round(min(100.0, 100.0 * held / expected), 1)


@dataclass(frozen=True)
class Slot:
    """One hour or day: images held, and images the cadence promises over its archived part."""

    start: datetime
    held: int
    expected: float

    @property
    def completeness(self) -> float | None:
        return percent(self.held, self.expected)

    def as_dict(self, key: str = "start") -> dict[str, Any]:
        start: str = self.start.date().isoformat() if key == "date" else self.start.isoformat()
        return {
            key: start,
            "held": self.held,
            "expected": round(self.expected, 2),
            "completeness": self.completeness,
        }


@dataclass(frozen=True)
class CoverageGap:
    """A stretch longer than GAP without an image; ``open`` means it runs up to now."""

    start: datetime
    end: datetime
    open: bool = False

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "minutes": self.minutes,
            "open": self.open,
        }


@dataclass(frozen=True)
class StreamCoverage:
    """One stream over the report's days; ``began`` is when its archive started (or None)."""

    terminal: str
    stream: str
    began: datetime | None
    hours: list[Slot]
    gaps: list[CoverageGap] = field(default_factory=list)
    # Held images the camera health checks flag: (capture time, "frozen" | "dark" | "blank").
    # They count as held (the archive has them) and are told apart, as they show nothing useful.
    flagged: list[tuple[datetime, str]] = field(default_factory=list)
    # Images the site listed and the archive could not store, with the last reason.
    missed: list[MissedRecord] = field(default_factory=list)
    # Where the days run midnight to midnight.
    zone: tzinfo = UTC

    def missed_between(self, start: datetime, end: datetime) -> list[MissedRecord]:
        return [m for m in self.missed if start <= m.timestamp < end]

    def _day_dict(self, day: Slot) -> dict[str, Any]:
        end = _day_end(day)
        lost = self.missed_between(day.start, end)
        return day.as_dict("date") | {
            "flagged": self.flag_counts(day.start, end),
            "missed": len(lost),
            "missed_images": [missed_dict(m) for m in lost],
        }

    def flag_counts(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, int]:
        """Flagged images per kind, of those captured in [start, end) if given."""
        counts: dict[str, int] = {}
        for ts, kind in self.flagged:
            if (start is None or ts >= start) and (end is None or ts < end):
                counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def held(self) -> int:
        return sum(h.held for h in self.hours)

    @property
    def expected(self) -> float:
        return sum(h.expected for h in self.hours)

    @property
    def completeness(self) -> float | None:
        return percent(self.held, self.expected)

    @property
    def days(self) -> list[Slot]:
        """The hours summed per day of ``zone``, each starting at its local midnight."""
        days: dict[date, tuple[int, float]] = {}
        for h in self.hours:
            day = h.start.astimezone(self.zone).date()
            held, expected = days.get(day, (0, 0.0))
            days[day] = (held + h.held, expected + h.expected)
        return [Slot(_midnight(d, self.zone), held, exp) for d, (held, exp) in days.items()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "terminal": self.terminal,
            "stream": self.stream,
            "archive_began": self.began.isoformat() if self.began else None,
            "held": self.held,
            "expected": round(self.expected, 2),
            "completeness": self.completeness,
            "gaps": [g.as_dict() for g in self.gaps],
            "flagged": self.flag_counts(),
            "missed": len(self.missed),
            "missed_images": [missed_dict(m) for m in self.missed],
            "days": [self._day_dict(d) for d in self.days],
            "hours": [h.as_dict() for h in self.hours],
        }


@dataclass(frozen=True)
class CoverageReport:
    """Coverage of every stream over the days ``start`` to ``end`` of ``zone``, both included."""

    start: date
    end: date
    cadence_minutes: int
    now: datetime
    streams: list[StreamCoverage]
    zone: tzinfo = UTC

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days_in": _zone_name(self.zone),
            "cadence_minutes": self.cadence_minutes,
            "gap_minutes": int(GAP.total_seconds() // 60),
            "generated_at": self.now.isoformat(),
            "streams": [s.as_dict() for s in self.streams],
        }

    def lines(self) -> list[str]:
        head = (
            f"coverage {self.start} to {self.end} (days in {_zone_name(self.zone)}; one image "
            f"expected every "
            f"{self.cadence_minutes} min; gaps are over {_minutes(GAP)})"
        )
        out = [head]
        if not self.streams:
            out.append("no streams in the archive")
        for s in self.streams:
            name = f"{s.terminal}/{s.stream}"
            for day in s.days:
                out.append(f"{name} {day.start.date()}  {_day_line(s, day, self.now)}")
            gap_time = sum((g.end - g.start for g in s.gaps), timedelta())
            out.append(
                f"{name} total  {_held(s.held, s.expected, s.completeness)}"
                f"{_flagged(s.flag_counts())}{_missed(len(s.missed))}  "
                f"{_count(len(s.gaps), 'gap')}, {_minutes(gap_time)} without images"
            )
        return out


def _midnight(day: date, zone: tzinfo) -> datetime:
    """Local midnight starting ``day`` in ``zone``, aware in that zone (its date is ``day``)."""
    return span_bounds(day, day, zone)[0].astimezone(zone)


def _day_end(day: Slot) -> datetime:
    """The next local midnight after the day ``day`` starts (23 or 25 hours on DST days)."""
    start = day.start
    assert start.tzinfo is not None
    return span_bounds(start.date(), start.date(), start.tzinfo)[1]


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _flagged(counts: dict[str, int]) -> str:
    """``  12 frozen, 3 dark``: the held images that show nothing useful, or nothing."""
    return ("  " + ", ".join(f"{n} {kind}" for kind, n in counts.items())) if counts else ""


def _missed(n: int) -> str:
    """``  2 missed``: listed by the site and not stored, or nothing."""
    return f"  {n} missed" if n else ""


def missed_dict(m: MissedRecord) -> dict[str, Any]:
    """One ledger entry as the JSON of coverage, the API and export tell it."""
    return {
        "timestamp": m.timestamp.isoformat(),
        "url": m.url,
        "reason": m.reason,
        "attempts": m.attempts,
        "first_attempt": m.first_attempt.isoformat(),
        "last_attempt": m.last_attempt.isoformat(),
        "unlisted": m.unlisted_at is not None,
    }


def _held(held: int, expected: float, completeness: float | None) -> str:
    # Expected counts are fractional where the archive began or ends mid-hour: a whole
    # number of images reads better, and the percentage keeps the precision. Nothing expected
    # (the days were all before the archive began) has no percentage: a dash, as on the page.
    shown = "\N{EN DASH}" if completeness is None else f"{completeness}%"
    return f"{held}/{round(expected)} images  {shown}"


def _day_line(s: StreamCoverage, day: Slot, now: datetime) -> str:
    if day.expected <= 0:
        ahead = day.start >= now
        return "not begun yet" if ahead else "before the archive began"
    end = _day_end(day)
    gaps = [g for g in s.gaps if g.start < end and g.end > day.start]
    held = _held(day.held, day.expected, day.completeness)
    flagged = _flagged(s.flag_counts(day.start, end))
    lost = _missed(len(s.missed_between(day.start, end)))
    text = f"{held}{flagged}{lost}  {_count(len(gaps), 'gap')}"
    if gaps:
        spans = ", ".join(_gap_span(g, day.start, end, s.zone) for g in gaps[:_GAPS_PER_LINE])
        more = f" and {len(gaps) - _GAPS_PER_LINE} more" if len(gaps) > _GAPS_PER_LINE else ""
        text += f": {spans}{more}"
    return text


def _gap_span(gap: CoverageGap, start: datetime, end: datetime, zone: tzinfo) -> str:
    """``14:02-14:49 -07:00 (47 min)``: the gap's part of the day, local, with its offset."""
    first = max(gap.start, start).astimezone(zone)
    last = "now" if gap.open else f"{min(gap.end, end).astimezone(zone):%H:%M}"
    return f"{first:%H:%M}-{last} {offset(first)} ({gap.minutes} min)"


def stream_coverage(
    terminal: str,
    stream: str,
    times: list[datetime],
    began: datetime | None,
    start: datetime,
    end: datetime,
    now: datetime,
    cadence: timedelta,
    flagged: list[tuple[datetime, str]] | None = None,
    lost: list[MissedRecord] | None = None,
    zone: tzinfo = UTC,
) -> StreamCoverage:
    """Coverage of one stream over [start, end) from its held capture times, oldest first.

    Only the part after the archive began and before now is expected to hold images, so
    days before the first run are not gaps. A missed image is no gap: the site published it.
    """
    lost = lost or []
    lo = max(start, began) if began is not None else end
    hi = min(end, now)
    # Hours counted from ``start``, which the web page sets to a local midnight: in a zone
    # with a half-hour offset those are not UTC hours.
    counts: dict[int, int] = {}
    for ts in times:
        if start <= ts < end:
            n = (ts - start) // HOUR
            counts[n] = counts.get(n, 0) + 1
    hours = []
    n, hour = 0, start
    while hour < end:
        covered = max(timedelta(), min(hour + HOUR, hi) - max(hour, lo))
        hours.append(Slot(hour, counts.get(n, 0), covered / cadence))
        n, hour = n + 1, hour + HOUR
    gaps = []
    if lo < hi:
        listed = sorted({*times, *(m.timestamp for m in lost)})
        edges = [lo, *(t for t in listed if lo <= t < hi), hi]
        last = len(edges) - 2
        for n, (previous, following) in enumerate(pairwise(edges)):
            if following - previous > GAP:
                gaps.append(CoverageGap(previous, following, open=n == last and hi == now))
    return StreamCoverage(terminal, stream, began, hours, gaps, flagged or [], lost, zone)


def check_range(start: date, end: date) -> None:
    """InputError unless ``start`` to ``end`` (both included) is a range a report can cover."""
    if end < start:
        raise InputError(f"--to {end} is before --from {start}")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        # Each hour of the range is a row held in memory: centuries of them fill the machine.
        raise InputError(
            f"--from {start} --to {end} is {days:,} days; a report covers at most "
            f"{MAX_DAYS}: ask for a year at a time"
        )


def coverage_report(
    db: Database,
    start: date,
    end: date,
    *,
    terminal: str | None = None,
    cadence_minutes: int = 10,
    now: datetime | None = None,
    zone: tzinfo = UTC,
) -> CoverageReport:
    """Per stream and hour over the days ``start`` to ``end`` of ``zone`` (both included):
    held vs expected.

    Its cost is O(streams x days asked), never O(archive): the gaps need each capture time,
    so each stream's range is one scan of its unique index (terminal, camera_id, timestamp),
    and the archive's start is two single index steps (browse.archive_start). The per-minute
    rollup cannot stand in: it counts when images were stored, not when they were captured.
    One read-only transaction, so a report never waits for the job's writes.
    """
    check_range(start, end)
    if cadence_minutes <= 0:
        raise InputError(f"cadence must be at least 1 minute, not {cadence_minutes}")
    now = now or datetime.now(UTC)
    lo, hi = span_bounds(start, end, zone)
    cadence = timedelta(minutes=cadence_minutes)
    result = []
    with db.read_scope() as session:
        ledger: dict[tuple[str, str], list[MissedRecord]] = {}
        for m in missed.missed_images(session, lo, hi):
            ledger.setdefault((m.terminal, m.stream), []).append(m)
        for s in browse.streams(session, terminal):
            window, found = frames.flags_between(session, s.terminal, s.stream, lo, hi)
            times = [f.timestamp for f in window]
            flagged = [(f.timestamp, found[f.id]) for f in window if f.id in found]
            began = browse.archive_start(session, s.terminal, s.stream)
            result.append(
                stream_coverage(
                    s.terminal,
                    s.stream,
                    times,
                    began,
                    lo,
                    hi,
                    now,
                    cadence,
                    flagged,
                    ledger.get((s.terminal, s.stream), []),
                    zone,
                )
            )
    return CoverageReport(start, end, cadence_minutes, now, result, zone)
