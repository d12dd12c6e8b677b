"""The archive web page's HTML: every time in the display zone with its offset, UTC on hover."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from gatecam.coverage import StreamCoverage
from gatecam.database.models import DownloadRun
from gatecam.web.timeline import GAP, NEAR, DayGap, Recent, Shot, Stream

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:1200px;padding:0 1rem;
color:#1d232a}
a{color:#0b57a4}h1{font-size:1.4rem}h2{margin-top:2rem;border-bottom:1px solid #ccd}
nav,.muted,figcaption{color:#566}table{border-collapse:collapse}
td,th{padding:.2rem .6rem;border-bottom:1px solid #e4e7ea;text-align:left;vertical-align:top}
.days{display:flex;flex-wrap:wrap;gap:.4rem}.days a{border:1px solid #ccd;border-radius:4px;
padding:.2rem .5rem;text-decoration:none;text-align:center}.days b{display:block}
.zero,.failed,.warn{color:#a3151b}.zero{border-color:#e3a1a4!important}
.before{color:#99a;border-style:dashed!important}svg.coverage{display:block;margin:.4rem 0}
.bar.good{fill:#2e7d32}.bar.part{fill:#e0a100}.bar.poor{fill:#c4161c}.bar.none{fill:#dde}
.grid{display:flex;flex-wrap:wrap;gap:.6rem}figure{margin:0;width:240px}
figure img{width:240px;height:135px;object-fit:cover;background:#eef}
.gap{width:240px;min-height:135px;box-sizing:border-box;border:2px dashed #c4161c;
color:#a3151b;padding:.6rem;display:flex;align-items:center;font-weight:600}
.large img{max-width:100%;height:auto}.gone{width:240px;height:135px;background:#f4e4e4;
display:flex;align-items:center;justify-content:center}form{margin:1rem 0}
figure.latest{width:auto;margin:.4rem 0}figure.latest img{width:320px;height:180px}
figure.flagged img{outline:3px solid #e0a100}.flag{color:#8a5a00;font-weight:600}
.player img{width:100%;max-width:800px;height:auto;display:block;background:#eef}
.player output{font-weight:600;margin:0 .6rem}
.player video{width:100%;max-width:800px;display:block}
"""


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

    def href(self, path: str, **params: str) -> str:
        """An escaped link that keeps the zone this page was asked in."""
        if self.tz_param is not None:
            params["tz"] = self.tz_param
        query = urlencode(params)
        return escape(f"{path}?{query}" if query else path)


def offset(moment: datetime) -> str:
    """The UTC offset as ``-07:00`` (strftime's ``%:z`` needs Python 3.12)."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def when(moment: datetime, view: View, fmt: str = "%H:%M:%S") -> str:
    """A <time> in the display zone with its offset, titled with the UTC time."""
    local = moment.astimezone(view.zone)
    utc = moment.astimezone(UTC)
    return (
        f'<time datetime="{utc.isoformat()}" title="{utc:%Y-%m-%d %H:%M:%S} UTC">'
        f"{escape(local.strftime(fmt))} {offset(local)}</time>"
    )


def stamp(moment: datetime | None, view: View) -> str:
    return "never" if moment is None else when(moment, view, "%a %Y-%m-%d %H:%M:%S")


def duration(span: timedelta, *, seconds: bool = True) -> str:
    """``42 s``, ``9 min 2 s``, ``2 h 05 min``, ``3 d 4 h``: coarser as spans grow."""
    total = int(abs(span).total_seconds())
    minutes, hours = total // 60, total // 3600
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{minutes} min" + (f" {total % 60} s" if total % 60 and seconds else "")
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def ago(moment: datetime | None, view: View) -> str:
    if moment is None:
        return ""
    return f' <span class="muted">({duration(view.now - moment)} ago)</span>'


def _zone_links(view: View) -> str:
    links: dict[str, str] = {}
    for key, tz in (("UTC", "UTC"), (view.default_tz, None)):
        if view.zone.key != key and key not in links:
            query = urlencode(dict(view.params) | ({"tz": tz} if tz else {}))
            href = escape(f"{view.here}?{query}" if query else view.here)
            links[key] = f' · <a href="{href}">show in {escape(key)}</a>'
    return "".join(links.values())


def layout(title: str, body: str, view: View) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · gatecam</title><style>{STYLE}</style></head><body>"
        f'<nav><a href="{view.href("/")}">gatecam archive</a> · times in '
        f"{escape(view.zone.key)} (UTC on hover){_zone_links(view)}</nav>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def lookup_form(view: View, streams: Sequence[Stream], **chosen: str) -> str:
    """The "what did it look like at ..." form; GET /at, no script needed."""

    def select(name: str, values: Iterable[str]) -> str:
        options = "".join(
            f"<option{' selected' if v == chosen.get(name) else ''}>{escape(v)}</option>"
            for v in dict.fromkeys(values)
        )
        return f'<select name="{name}">{options}</select>'

    tz = escape(view.tz_param or view.default_tz)
    moment = escape(chosen.get("time", ""))
    return (
        '<form action="/at" method="get">See '
        f"{select('terminal', (s.terminal for s in streams))} "
        f"{select('stream', (s.stream for s in streams))} at "
        f'<input type="datetime-local" name="time" required value="{moment}"> in '
        f'<input name="tz" size="20" value="{tz}"> <button>Show</button></form>'
    )


def stream_section(view: View, recent: Recent, chart: StreamCoverage) -> str:
    """One stream's part of the index page: its recent days and its hourly chart."""
    return _stream_days(view, recent) + coverage_chart(view, chart)


def index_page(
    view: View,
    stats: dict[str, dict[str, Any]],
    sections: Sequence[tuple[Stream, str]],
    runs: Sequence[DownloadRun],
) -> str:
    """The archive at a glance: per terminal its statistics and each stream's section (as
    stream_section drew it), then the latest runs."""
    if not sections:
        return layout("Archive", "<p>Nothing archived yet.</p>", view)
    parts = [lookup_form(view, [stream for stream, _ in sections])]
    for terminal, s in stats.items():
        error = escape(s["last_error"] or "none")
        parts.append(
            f"<h2>{escape(terminal)}</h2><p>{s['total_downloaded']:,} images archived · "
            f"{s['last_24h']:,} in the last 24 h · {s['last_hour']:,} in the last hour · "
            f"last download {stamp(s['last_download'], view)}{ago(s['last_download'], view)}"
            f"<br>{s['total_runs']:,} runs ({s['successful_runs']:,} ok, "
            f"{s['partial_runs']:,} partial, {s['failed_runs']:,} failed) · "
            f"{s['failed_downloads']:,} failed downloads · "
            f"last error: {error}</p>"
        )
        parts.extend(html for stream, html in sections if stream.terminal == terminal)
    parts.append(_runs(view, runs))
    return layout("Archive", "".join(parts), view)


def _chip(view: View, r: Recent, day: date, n: int | None) -> str:
    href = view.href(f"/{r.stream.terminal}/{r.stream.stream}/{day}")
    if n is None:
        # Not a gap: the archive of this stream had not begun.
        title = "before the archive of this stream began"
        return f'<a class="before" title="{title}" href="{href}">{day:%a %d %b}<b>&ndash;</b></a>'
    return f'<a class="{"zero" if n == 0 else ""}" href="{href}">{day:%a %d %b}<b>{n}</b></a>'


def day_zone_note(view: View) -> str:
    """Which days the page counts in: the CLI's stats and coverage use UTC days."""
    return f"days run midnight to midnight in {escape(view.zone.key)}"


def _latest(view: View, r: Recent) -> str:
    """The stream's newest image, linking to /at at its moment: the cameras come first."""
    if r.latest is None:
        return ""
    shot, s = r.latest, r.stream
    at = view.href("/at", terminal=s.terminal, stream=s.stream, time=shot.timestamp.isoformat())
    frozen = ""
    if r.frozen_since is not None:
        frozen = (
            f' · <span class="flag">camera frozen since {stamp(r.frozen_since, view)}: '
            "the same picture again and again</span>"
        )
    return (
        f'<figure class="latest"><a href="{at}"><img src="/image/{shot.id}/thumb" width="320" '
        f'height="180" alt="latest {escape(s.terminal)}/{escape(s.stream)} image"></a>'
        f"<figcaption>latest image {stamp(shot.timestamp, view)}{ago(shot.timestamp, view)}"
        f"{frozen}</figcaption></figure>"
    )


def _stream_days(view: View, r: Recent) -> str:
    chips = "".join(_chip(view, r, day, n) for day, n in r.days)
    began = f" · archive began {stamp(r.began, view)}" if r.began else ""
    return (
        f"<h3>{escape(r.stream.terminal)} / {escape(r.stream.stream)}</h3>{_latest(view, r)}<p>"
        f"{r.stream.total:,} images · newest captured {stamp(r.newest, view)}{ago(r.newest, view)}"
        f" · last download {stamp(r.stream.last_download, view)}{began}</p>"
        f'<p class="muted">Images per day ({day_zone_note(view)}):</p>'
        f'<div class="days">{chips}</div>'
    )


_BAR_WIDTH, _BAR_GAP, _CHART_HEIGHT = 5, 1, 48


def _level(completeness: float | None) -> str:
    if completeness is None:
        return "none"
    return "good" if completeness >= 90 else "part" if completeness >= 50 else "poor"


def coverage_chart(view: View, cov: StreamCoverage) -> str:
    """An hourly bar chart of completeness: plain SVG, drawn without any script."""
    step = _BAR_WIDTH + _BAR_GAP
    bars, ticks = [], []
    for n, hour in enumerate(cov.hours):
        x = n * step
        pct = hour.completeness
        # An hour with nothing expected (before the archive began, or still ahead) gets a
        # faint stub, an empty hour a red one: both must be told apart from a short bar.
        height = 2 if pct is None else max(3.0, _CHART_HEIGHT * pct / 100)
        local = hour.start.astimezone(view.zone)
        label = f"{local:%a %d %b %H:00} {offset(local)}: " + (
            "not archived" if pct is None else f"{hour.held}/{hour.expected:.1f} images, {pct}%"
        )
        bars.append(
            f'<rect class="bar {_level(pct)}" x="{x}" y="{_CHART_HEIGHT - height:.1f}" '
            f'width="{_BAR_WIDTH}" height="{height:.1f}"><title>{escape(label)}</title></rect>'
        )
        if local.hour == 0 or n == 0:
            ticks.append(
                f'<text x="{x}" y="{_CHART_HEIGHT + 14}" font-size="11" fill="#566">'
                f"{local:%a %d}</text>"
            )
    width = max(step * len(cov.hours), 1)
    total = "no archived hours" if cov.completeness is None else f"{cov.completeness}% complete"
    return (
        f'<p class="muted">Hourly coverage against one image every 10 min ({total}; '
        f"{len(cov.gaps)} {'gap' if len(cov.gaps) == 1 else 'gaps'} over {duration(GAP)}):</p>"
        f'<svg class="coverage" data-stream="{escape(cov.terminal)}/{escape(cov.stream)}" '
        f'width="{width}" height="{_CHART_HEIGHT + 18}" role="img" '
        f'aria-label="hourly coverage of {escape(cov.stream)}">'
        f"{''.join(bars)}{''.join(ticks)}</svg>"
    )


def _runs(view: View, runs: Sequence[DownloadRun]) -> str:
    rows = "".join(
        f"<tr><td>{stamp(run.started_at, view)}</td>"
        f"<td>{escape(run.terminal)} / {escape(run.camera_id)}</td><td>{escape(run.days)}</td>"
        f'<td class="{escape(run.status)}">{escape(run.status)}</td>'
        f"<td>{run.discovered} found · {run.downloaded} downloaded · {run.failed} failed · "
        f"{run.pending} pending</td><td>{escape(run.error or '')}</td></tr>"
        for run in runs
    )
    head = "<tr><th>started</th><th>stream</th><th>days</th><th>status</th><th>images</th>"
    return f"<h2>Recent download runs</h2><table>{head}<th>error</th></tr>{rows}</table>"


def _span(view: View, gap: DayGap) -> str:
    """``14:02 → 14:49`` in the display zone; a day's own ends read 00:00 and 24:00."""
    start = "00:00" if gap.from_day_start else gap.start.astimezone(view.zone).strftime("%H:%M")
    end = "24:00" if gap.to_day_end else gap.end.astimezone(view.zone).strftime("%H:%M")
    return f"{start} → {'now' if gap.open_end else end}"


def _gap(view: View, gap: DayGap) -> str:
    length = duration(gap.length, seconds=False) + (" so far" if gap.open_end else "")
    title = (
        f"{gap.start.astimezone(UTC):%Y-%m-%d %H:%M:%S} → {gap.end.astimezone(UTC):%H:%M:%S} UTC"
    )
    return f'<div class="gap" title="{title}">no image for {length} ({_span(view, gap)})</div>'


def _tile(view: View, terminal: str, stream: str, shot: Shot, flag: str | None = None) -> str:
    caption = f"<figcaption>{when(shot.timestamp, view)}"
    if shot.missing:
        return f'<figure><div class="gone">file missing</div>{caption} (gone)</figcaption></figure>'
    at = view.href("/at", terminal=terminal, stream=stream, time=shot.timestamp.isoformat())
    marked = f' class="flagged" data-flag="{flag}"' if flag else ""
    badge = f' <span class="flag">{flag}</span>' if flag else ""
    return (
        f'<figure{marked}><a href="{at}"><img src="/image/{shot.id}/thumb" loading="lazy" '
        f'width="240" height="135" alt="{escape(stream)} image"></a>{caption}{badge}'
        "</figcaption></figure>"
    )


# Steps through the day's images in place: buttons, or the arrow keys and the space bar.
# The image element is made on first use, so an unplayed page loads no extra image.
PLAYER_SCRIPT = """
(() => {
  const box = document.getElementById("player");
  const frames = JSON.parse(box.dataset.frames);
  const shown = document.getElementById("play-time");
  const toggle = document.getElementById("play-toggle");
  // n is the index shown; -1 until the first step, so play starts at the first image.
  let n = -1, timer = null, img = null;
  function show(i) {
    if (!frames.length) return;
    n = (i + frames.length) % frames.length;
    if (img === null) {
      img = document.createElement("img");
      img.id = "play-image";
      img.alt = "image of the day";
      box.appendChild(img);
    }
    img.hidden = false;
    const video = document.getElementById("play-video-el");
    if (video !== null) video.pause();
    img.src = "/image/" + frames[n].id;
    img.title = frames[n].utc;
    shown.textContent = frames[n].label + " (" + (n + 1) + "/" + frames.length + ")";
    shown.dataset.utc = frames[n].utc;
  }
  function stop() {
    clearInterval(timer); timer = null; toggle.textContent = "\u25b6 play this day";
  }
  function play() {
    if (n >= frames.length - 1) n = -1;
    show(n + 1);
    timer = setInterval(() => { if (n === frames.length - 1) stop(); else show(n + 1); }, 400);
    toggle.textContent = "\u275a\u275a pause";
  }
  toggle.addEventListener("click", () => timer ? stop() : play());
  const back = () => { stop(); show(n < 0 ? frames.length - 1 : n - 1); };
  document.getElementById("play-prev").addEventListener("click", back);
  document.getElementById("play-next").addEventListener("click", () => { stop(); show(n + 1); });
  // The day's timelapse (captioned, gaps shown as cards) in place of the stepped images.
  const videoButton = document.getElementById("play-video");
  videoButton.addEventListener("click", () => {
    stop();
    if (img !== null) img.hidden = true;
    let video = document.getElementById("play-video-el");
    if (video === null) {
      video = document.createElement("video");
      video.id = "play-video-el";
      video.controls = video.autoplay = video.muted = video.playsInline = true;
      video.src = videoButton.dataset.src;
      box.appendChild(video);
    }
    video.play().catch(() => {});
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.closest && e.target.closest("input,select,textarea")) return;
    if (e.key === "ArrowRight") { stop(); show(n + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { back(); e.preventDefault(); }
    else if (e.key === " ") { timer ? stop() : play(); e.preventDefault(); }
  });
})();
"""


def _player(
    view: View,
    terminal: str,
    stream: str,
    day: date,
    shots: Sequence[Shot],
    flags: Mapping[int, str],
) -> str:
    """The play control, the timelapse and the day's download, for a day that has images."""
    if not shots:
        return ""
    frames = [
        {
            "id": s.id,
            "utc": f"{s.timestamp.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            "label": f"{s.timestamp.astimezone(view.zone):%H:%M:%S} "
            f"{offset(s.timestamp.astimezone(view.zone))}"
            + (f" \u00b7 {flags[s.id]}" if s.id in flags else ""),
        }
        for s in shots
    ]
    base = f"/{terminal}/{stream}/{day}"
    data = escape(json.dumps(frames), quote=True)
    return (
        f'<section class="player" id="player" data-frames="{data}"><p>'
        '<button id="play-toggle" type="button">\u25b6 play this day</button> '
        '<button id="play-prev" type="button" title="previous image (left arrow)">\u25c0</button>'
        '<button id="play-next" type="button" title="next image (right arrow)">\u25b6</button>'
        '<output id="play-time">arrow keys step, space plays</output> · '
        f'<button id="play-video" type="button" data-src="{view.href(f"{base}/timelapse.mp4")}">'
        "\u25b6 video of this day</button> "
        f'(<a href="{view.href(f"{base}/timelapse.mp4")}">MP4 file</a>) · '
        f'download this day: <a href="{view.href(f"{base}/images.tar")}">tar</a> or '
        f'<a href="{view.href(f"{base}/images.zip")}">zip</a> (originals and a manifest)</p>'
        f"</section><script>{PLAYER_SCRIPT}</script>"
    )


def day_page(
    view: View,
    terminal: str,
    stream: str,
    day: date,
    items: Sequence[Shot | DayGap],
    before_archive: bool = False,
    flags: Mapping[int, str] | None = None,
) -> str:
    base = f"/{terminal}/{stream}"
    flags = flags or {}
    shots = [i for i in items if isinstance(i, Shot) and not i.missing]
    held = len(shots)
    gaps = [i for i in items if isinstance(i, DayGap)]
    missed = sum((g.length for g in gaps), timedelta())
    nav = (
        f'<p><a href="{view.href(f"{base}/{day - timedelta(days=1)}")}">← previous day</a> · '
        f'<a href="{view.href(f"{base}/{day + timedelta(days=1)}")}">next day →</a></p>'
    )
    summary = f"<p>{held} images"
    counts = Counter(flags[s.id] for s in shots if s.id in flags)
    if counts:
        flagged = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        summary += f', <span class="flag">{flagged}</span>'
    if gaps:
        spans = ", ".join(_span(view, g) for g in gaps)
        noun = "gap" if len(gaps) == 1 else "gaps"
        summary += (
            f' · <span class="warn">{len(gaps)} {noun} longer than {duration(GAP)}, '
            f"{duration(missed, seconds=False)} without images: {spans}</span>"
        )
    summary += f' <span class="muted">({day_zone_note(view)})</span></p>'
    if view.now < datetime.combine(day, datetime.min.time(), tzinfo=view.zone):
        summary = "<p>This day has not begun yet.</p>"
    elif before_archive and not held:
        summary = "<p>This day is before the archive of this stream began.</p>"
    tiles = "".join(
        _gap(view, item)
        if isinstance(item, DayGap)
        else _tile(view, terminal, stream, item, flags.get(item.id))
        for item in items
    )
    title = f"{terminal} / {stream} on {day:%a %Y-%m-%d}"
    player = _player(view, terminal, stream, day, shots, flags)
    return layout(title, f'{nav}{summary}{player}<div class="grid">{tiles}</div>{nav}', view)


def _distance(ts: datetime, moment: datetime) -> str:
    if ts == moment:
        return "exactly the time asked"
    return f"{duration(ts - moment)} {'before' if ts < moment else 'after'} the time asked"


def _neighbour(view: View, label: str, shot: Shot | None, moment: datetime, **link: str) -> str:
    if shot is None:
        return f"<li>{label}: none archived</li>"
    href = view.href("/at", **link, time=shot.timestamp.isoformat())
    return (
        f'<li>{label}: <a href="{href}">{stamp(shot.timestamp, view)}</a>, '
        f"{_distance(shot.timestamp, moment)}</li>"
    )


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
    day_link = (
        f'<a href="{view.href(f"/{terminal}/{stream}/{day}")}">all images of {day:%a %Y-%m-%d}</a>'
    )
    if shown is None:
        body = (
            f'<p class="warn"><b>No image within {duration(NEAR)} of {stamp(moment, view)}.</b></p>'
            "<ul>"
            f"{_neighbour(view, 'Nearest before', previous, moment, **link)}"
            f"{_neighbour(view, 'Nearest after', following, moment, **link)}</ul><p>{day_link}</p>"
        )
    else:
        body = (
            f"<p>Nearest image: <b>{stamp(shown.timestamp, view)}</b>, "
            f"{_distance(shown.timestamp, moment)} · {day_link}</p><ul>"
            f"{_neighbour(view, 'Previous image', previous, moment, **link)}"
            f"{_neighbour(view, 'Next image', following, moment, **link)}</ul>"
            f'<p class="large"><a href="/image/{shown.id}"><img src="/image/{shown.id}" '
            f'alt="{escape(stream)} image"></a></p>'
        )
    chosen = {**link, "time": asked.strftime("%Y-%m-%dT%H:%M")}
    title = f"{terminal} / {stream} at {asked:%a %Y-%m-%d %H:%M} {offset(asked)}"
    return layout(title, lookup_form(view, streams, **chosen) + body, view)
