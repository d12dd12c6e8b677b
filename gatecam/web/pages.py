"""The archive web page: what each template shows, with every time in the display zone and
its offset, UTC on hover. The HTML is in templates/, the style and scripts in static/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from starlette.requests import Request

from gatecam.database.missed import MissedRecord
from gatecam.database.models import DownloadRun
from gatecam.database.stats import StreamError
from gatecam.health import Verdict
from gatecam.health.coverage import StreamCoverage
from gatecam.web import imageurls, scrub, timeline
from gatecam.web.chart import chart as coverage_chart
from gatecam.web.common import Archive
from gatecam.web.render import duration, offset, render
from gatecam.web.timeline import GAP, NEAR, DayGap, Recent, Shot, Stream, day_bounds

__all__ = [
    "View",
    "at_page",
    "day_page",
    "index_page",
    "page",
    "stream_section",
    "view_in",
    "view_of",
]


@dataclass(frozen=True)
class View:
    """How one request shows times: its zone, and the tz parameter its links carry on."""

    zone: ZoneInfo
    default_tz: str
    tz_param: str | None
    now: datetime
    # This page's path and query without tz, for the links that switch zone.
    here: str = "/"
    params: tuple[tuple[str, str], ...] = ()

    def href(self, path: str, **params: str) -> Markup:
        """An escaped link that keeps the zone this page was asked in."""
        if self.tz_param is not None:
            params["tz"] = self.tz_param
        query = urlencode(params)
        return escape(f"{path}?{query}" if query else path)


def view_of(archive: Archive, request: Request) -> View:
    """How a page shows time. No other parameter of the query is kept: the pages use none,
    and what a view holds keys the page caches, so a junk query would cost memory."""
    return replace(view_in(archive, request.query_params.get("tz") or None), here=request.url.path)


def view_in(archive: Archive, tz: str | None) -> View:
    return View(
        zone=timeline.zone(tz) if tz else archive.zone,
        default_tz=archive.zone.key,
        tz_param=tz,
        now=datetime.now(UTC),
    )


def _zone_links(view: View) -> list[tuple[str, str]]:
    links: dict[str, str] = {}
    for key, tz in (("UTC", "UTC"), (view.default_tz, None)):
        if view.zone.key != key and key not in links:
            query = urlencode(dict(view.params) | ({"tz": tz} if tz else {}))
            links[key] = f"{view.here}?{query}" if query else view.here
    return [(href, key) for key, href in links.items()]


def page(template: str, title: str, view: View, **context: Any) -> str:
    return str(render(template, title=title, view=view, zone_links=_zone_links(view), **context))


def _form(view: View, streams: Sequence[Stream], **chosen: str) -> dict[str, Any]:
    return {
        "terminals": list(dict.fromkeys(s.terminal for s in streams)),
        "streams": list(dict.fromkeys(s.stream for s in streams)),
        "chosen": chosen,
        "tz": view.tz_param or view.default_tz,
    }


def day_zone_note(view: View) -> str:
    """Which days the page counts in: the CLI's stats and coverage use UTC days."""
    return f"days run midnight to midnight in {view.zone.key}"


def stream_section(view: View, recent: Recent, chart: StreamCoverage) -> str:
    """One stream's part of the index page: its recent days and its hourly chart."""
    s = recent.stream
    chips = [(day, n, view.href(f"/{s.terminal}/{s.stream}/{day}")) for day, n in recent.days]
    return str(
        render(
            "stream.html",
            view=view,
            r=recent,
            chips=chips,
            zone_note=day_zone_note(view),
            chart=coverage_chart(view, chart),
        )
    )


def index_page(
    view: View,
    stats: dict[str, dict[str, Any]],
    sections: Sequence[tuple[Stream, str]],
    runs: Sequence[DownloadRun],
    states: Sequence[Verdict] = (),
    errors: Mapping[tuple[str, str], StreamError] | None = None,
) -> str:
    """The archive at a glance: a banner naming each judged stream that is not ok, per
    terminal its statistics and each stream's state, last error and section (as
    stream_section drew it), then the latest runs.

    A stream's last error is shown until a later run of it succeeds: after that it no
    longer says what is wrong, only what was (the runs table keeps it).
    """
    today = view.now.astimezone(view.zone).date()
    shown_errors = {
        key: {
            "at": e.at,
            "error": e.error,
            # The time alone for today's; older ones need their day.
            "fmt": "%H:%M" if e.at.astimezone(view.zone).date() == today else "%a %Y-%m-%d %H:%M",
        }
        for key, e in (errors or {}).items()
        if e.current
    }
    return page(
        "index.html",
        "Archive",
        view,
        states=list(states),
        by_stream={(v.terminal, v.stream): v for v in states},
        stats=stats,
        sections=[(stream, Markup(html)) for stream, html in sections],
        runs=runs,
        errors=shown_errors,
        form=_form(view, [stream for stream, _ in sections]),
    )


def _span(view: View, gap: DayGap) -> str:
    """``14:02 → 14:49`` in the display zone; a day's own ends read 00:00 and 24:00."""
    start = "00:00" if gap.from_day_start else gap.start.astimezone(view.zone).strftime("%H:%M")
    end = "24:00" if gap.to_day_end else gap.end.astimezone(view.zone).strftime("%H:%M")
    return f"{start} → {'now' if gap.open_end else end}"


def _gap(view: View, gap: DayGap) -> dict[str, Any]:
    return {
        "gap": True,
        "length": duration(gap.length, seconds=False) + (" so far" if gap.open_end else ""),
        "span": _span(view, gap),
        "title": f"{gap.start.astimezone(UTC):%Y-%m-%d %H:%M:%S} → "
        f"{gap.end.astimezone(UTC):%H:%M:%S} UTC",
    }


def _tile(
    view: View, item: Shot | DayGap | MissedRecord, flags: Mapping[int, str]
) -> dict[str, Any]:
    if isinstance(item, DayGap):
        return _gap(view, item) | {"missed": None, "flag": None}
    if isinstance(item, MissedRecord):
        return {"gap": False, "missed": item, "flag": None}
    return {"gap": False, "missed": None, "shot": item, "flag": flags.get(item.id)}


def _frames(
    view: View, shots: Sequence[Shot], flags: Mapping[int, str], start: datetime
) -> list[dict[str, Any]]:
    """The day's images as the player steps through them; ``t``: seconds into the day."""
    return [
        {
            "id": s.id,
            "url": imageurls.image_url(s.id, s.sha256),
            "t": int((s.timestamp - start).total_seconds()),
            "utc": f"{s.timestamp.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            "label": f"{s.timestamp.astimezone(view.zone):%H:%M:%S} "
            f"{offset(s.timestamp.astimezone(view.zone))}"
            + (f" \u00b7 {flags[s.id]}" if s.id in flags else ""),
        }
        for s in shots
    ]


def day_page(
    view: View,
    terminal: str,
    stream: str,
    day: date,
    items: Sequence[Shot | DayGap],
    before_archive: bool = False,
    flags: Mapping[int, str] | None = None,
    missed: Sequence[MissedRecord] = (),
) -> str:
    flags = flags or {}
    start, end = day_bounds(day, view.zone)
    day_gaps = [i for i in items if isinstance(i, DayGap)]
    shots = [i for i in items if isinstance(i, Shot) and not i.missing]
    gaps = [_gap(view, i) for i in day_gaps]
    without = sum((i.length for i in day_gaps), timedelta())
    counts = Counter(flags[s.id] for s in shots if s.id in flags)
    # A missed image stands where it was captured, inside the gap it leaves if any: the
    # site listed it, so the silence there is not the camera's.
    placed: list[Shot | DayGap | MissedRecord] = [*items, *missed]
    placed.sort(key=scrub.moment_of)  # stable: a gap's tile before an image of its start
    tiles = [_tile(view, item, flags) | {"hour": scrub.hour_of(item, start)} for item in placed]
    labels = {h["n"]: h["label"] for h in scrub.hours(start, end, view.zone)}
    return page(
        "day.html",
        f"{terminal} / {stream} on {day:%a %Y-%m-%d}",
        view,
        base=f"/{terminal}/{stream}",
        terminal=terminal,
        stream=stream,
        day=day,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        held=len(shots),
        missed=len(missed),
        flagged=", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())),
        gaps=gaps,
        gap_limit=duration(GAP),
        without=duration(without, seconds=False),
        zone_note=day_zone_note(view),
        not_begun=view.now < datetime.combine(day, datetime.min.time(), tzinfo=view.zone),
        before_archive=before_archive,
        frames=_frames(view, shots, flags, start),
        track=scrub.track(start, end, view.zone, day_gaps, missed),
        items=tiles,
        hour_labels=labels,
        jumps=sorted({t["hour"] for t in tiles}),
    )


def _distance(ts: datetime, moment: datetime) -> str:
    if ts == moment:
        return "exactly the time asked"
    return f"{duration(ts - moment)} {'before' if ts < moment else 'after'} the time asked"


def at_page(
    view: View,
    streams: Sequence[Stream],
    terminal: str,
    stream: str,
    moment: datetime,
    shown: Shot | None,
    previous: Shot | None,
    following: Shot | None,
) -> str:
    """The image nearest ``moment`` (if within NEAR), and its neighbours."""
    link = {"terminal": terminal, "stream": stream}
    asked = moment.astimezone(view.zone)
    day = shown.timestamp.astimezone(view.zone).date() if shown else asked.date()

    def neighbour(shot: Shot | None) -> dict[str, Any] | None:
        if shot is None:
            return None
        href = view.href("/at", **link, time=shot.timestamp.isoformat())
        return {"shot": shot, "href": href, "distance": _distance(shot.timestamp, moment)}

    chosen = {**link, "time": asked.strftime("%Y-%m-%dT%H:%M")}
    return page(
        "at.html",
        f"{terminal} / {stream} at {asked:%a %Y-%m-%d %H:%M} {offset(asked)}",
        view,
        form=_form(view, streams, **chosen),
        stream=stream,
        moment=moment,
        day=day,
        day_href=f"/{terminal}/{stream}/{day}",
        near=duration(NEAR),
        shown=shown,
        distance=_distance(shown.timestamp, moment) if shown else "",
        previous=neighbour(previous),
        following=neighbour(following),
    )
