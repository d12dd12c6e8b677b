"""The index page's hourly coverage chart: what each bar shows, says and links to."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gatecam.health.coverage import StreamCoverage
from gatecam.web.render import duration, offset
from gatecam.web.timeline import GAP, day_bounds

if TYPE_CHECKING:
    from gatecam.web.pages import View

BAR_WIDTH, BAR_GAP, HEIGHT, AXIS, TOP = 5, 1, 48, 36, 6
HOUR = timedelta(hours=1)
LEGEND = [
    ("good", "90 % or more"),
    ("part", "50-90 %"),
    ("poor", "under 50 %"),
    ("none", "not archived"),
    ("flagged", "frozen, dark or blank"),
    ("missed", "missed (listed, not stored)"),
]


def level(completeness: float | None) -> str:
    if completeness is None:
        return "none"
    return "good" if completeness >= 90 else "part" if completeness >= 50 else "poor"


def _count(n: float) -> str:
    return f"{round(n, 1):g}"


def _hour_link(view: View, cov: StreamCoverage, start: datetime) -> str:
    """The day page of the hour, at that hour's heading."""
    day = start.astimezone(view.zone).date()
    n = int((start - day_bounds(day, view.zone)[0]) // HOUR)
    return view.href(f"/{cov.terminal}/{cov.stream}/{day}") + f"#hour-{n}"


def chart(view: View, cov: StreamCoverage) -> dict[str, Any]:
    """A bar per hour (the held part, its flagged part, the missed images above it), a tick
    per day, and a y-axis of completeness."""
    step = BAR_WIDTH + BAR_GAP
    bars, ticks = [], []
    for n, hour in enumerate(cov.hours):
        x = AXIS + n * step
        pct = hour.completeness
        end = hour.start + HOUR
        flagged = cov.flag_counts(hour.start, end)
        missed = len(cov.missed_between(hour.start, end))
        # An hour with nothing expected (before the archive began, or still ahead) gets a
        # faint stub, an empty hour a red one: both must be told apart from a short bar.
        height = 2 if pct is None else max(3.0, HEIGHT * pct / 100)
        local, later = hour.start.astimezone(view.zone), end.astimezone(view.zone)
        span = f"{local:%a %d %b %H:%M}\u2013{later:%H:%M} {offset(local)}"
        words = (
            "not archived"
            if pct is None
            else f"{hour.held} of {_count(hour.expected)} expected ({pct:g} %)"
        )
        words += "".join(f", {k} {kind}" for kind, k in flagged.items())
        words += f", {missed} missed" if missed else ""
        scale = HEIGHT / hour.expected if hour.expected else 0.0
        flagged_height = min(height, scale * sum(flagged.values()))
        missed_height = min(HEIGHT + TOP - height, scale * missed) if missed else 0.0
        bars.append(
            {
                "x": x,
                "y": TOP + HEIGHT - height,
                "height": height,
                "level": level(pct),
                "label": f"{words}, {span}",
                "href": _hour_link(view, cov, hour.start),
                "flagged": flagged_height,
                "missed": missed_height,
            }
        )
        if local.hour == 0 or n == 0:
            ticks.append({"x": x, "label": f"{local:%a %d}"})
    return {
        "terminal": cov.terminal,
        "stream": cov.stream,
        "bars": bars,
        "ticks": ticks,
        "width": AXIS + max(step * len(cov.hours), 1),
        "top": TOP,
        "height": HEIGHT,
        "axis": AXIS,
        "bar_width": BAR_WIDTH,
        "total": "no archived hours"
        if cov.completeness is None
        else f"{cov.completeness}% complete",
        "gaps": len(cov.gaps),
        "gap": duration(GAP),
        "legend": LEGEND,
    }
