"""The day page's timeline: where its hours, gaps and missed images lie along the day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gatecam.database.missed import MissedRecord
from gatecam.web.timeline import DayGap, Shot


def _minutes(moment: datetime, start: datetime) -> float:
    return round((moment - start).total_seconds() / 60, 2)


def hours(start: datetime, end: datetime, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Each hour of the day (23 or 25 of them on a change of clocks), by its local label."""
    found, moment, n = [], start, 0
    while moment < end:
        found.append(
            {
                "n": n,
                "t": int((moment - start).total_seconds()),
                "minute": _minutes(moment, start),
                "label": f"{moment.astimezone(zone):%H}",
            }
        )
        moment, n = moment + timedelta(hours=1), n + 1
    return found


def track(
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    gaps: Sequence[DayGap],
    missed: Sequence[MissedRecord],
) -> dict[str, Any]:
    """The slider's track: its length in seconds and minutes, hour ticks, gaps, missed images."""
    return {
        "seconds": int((end - start).total_seconds()),
        "minutes": _minutes(end, start),
        "hours": hours(start, end, zone),
        "gaps": [
            {
                "x": _minutes(g.start, start),
                "width": _minutes(g.end, g.start),
                "label": f"no image {g.start.astimezone(zone):%H:%M} → "
                f"{g.end.astimezone(zone):%H:%M}",
            }
            for g in gaps
        ],
        "missed": [
            {
                "x": _minutes(m.timestamp, start),
                "label": f"missed {m.timestamp.astimezone(zone):%H:%M:%S}: {m.reason}",
            }
            for m in missed
        ],
    }


def hour_of(item: Shot | DayGap | MissedRecord, start: datetime) -> int:
    """Which hour of the day (from 0) an image, a missed image or the start of a gap falls in."""
    return max(0, int((moment_of(item).astimezone(UTC) - start).total_seconds() // 3600))


def moment_of(item: Shot | DayGap | MissedRecord) -> datetime:
    """Where an item of the day's grid lies: its capture time, or the start of a gap."""
    return item.start if isinstance(item, DayGap) else item.timestamp
