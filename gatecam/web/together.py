"""/at for several cameras: every chosen stream's nearest image at one moment, side by side."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gatecam.database import browse
from gatecam.errors import InputError
from gatecam.model import is_name
from gatecam.web import timeline
from gatecam.web.common import Archive
from gatecam.web.pages import View, page
from gatecam.web.render import duration, offset


def chosen_streams(request: Request) -> list[str]:
    """The ``stream`` parameters, each one or more comma-separated ``stream`` or
    ``terminal/stream``; empty when none is given."""
    return [
        part.strip()
        for value in request.query_params.getlist("stream")
        for part in value.split(",")
        if part.strip()
    ]


def is_several(request: Request) -> bool:
    """Whether /at asks for several cameras (or all: no stream named) rather than one."""
    return len(chosen_streams(request)) != 1


def known_text(streams: list[browse.Stream]) -> str:
    return ", ".join(f"{s.terminal}/{s.stream}" for s in streams) or "none yet"


def resolve(names: list[str], terminal: str, streams: list[browse.Stream]) -> list[tuple[str, str]]:
    """The (terminal, stream) pairs ``names`` mean, in the order given; every stream when
    none is named. Raises InputError naming the known streams for one the archive lacks."""
    if not names:
        return [(s.terminal, s.stream) for s in streams]
    have = {(s.terminal, s.stream) for s in streams}
    pairs: list[tuple[str, str]] = []
    for name in names:
        t, _, s = name.rpartition("/")
        if not (is_name(t or "x") and is_name(s)):
            raise InputError("terminal and stream must be names of a-z, 0-9, _ and -")
        candidates = [(t, s)] if t else [(x.terminal, x.stream) for x in streams if x.stream == s]
        if terminal and not t:
            candidates = [(terminal, s)]
        pair = next((c for c in candidates if c in have), None)
        if pair is None:
            shown = f"{t or terminal}/{s}" if (t or terminal) else s
            raise InputError(f"{shown} is not in the archive (known: {known_text(streams)})")
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def nearest(session: Session, terminal: str, stream: str, moment: datetime) -> browse.Shot | None:
    """The stream's image closest to ``moment``, if one is within NEAR of it."""
    older = browse.shot_before(session, terminal, stream, moment)
    newer = browse.shot_after(session, terminal, stream, moment)
    near = [s for s in (older, newer) if s and abs(s.timestamp - moment) <= timeline.NEAR]
    return min(near, key=lambda s: abs(s.timestamp - moment), default=None)


def signed(span: timedelta) -> str:
    """``+1 min 23 s`` after the moment asked, ``-42 s`` before it."""
    return f"{'-' if span < timedelta() else '+'}{duration(span)}"


@dataclass(frozen=True)
class Camera:
    terminal: str
    stream: str
    shot: browse.Shot | None
    offset: str
    href: str


def at_all(archive: Archive, request: Request, view: View) -> Response:
    params = request.query_params
    text = params.get("time", "")
    if not text:
        raise InputError(f"time is needed ({timeline.TIME_HELP})")
    terminal = params.get("terminal", "")
    if terminal and not is_name(terminal):
        raise InputError("terminal and stream must be names of a-z, 0-9, _ and -")
    moment = timeline.parse_shown_time(text, view.zone)
    names = chosen_streams(request)
    with archive.db.read_scope() as session:
        streams = browse.streams(session)
        pairs = resolve(names, terminal, streams)
        shown = []
        for t, s in pairs:
            shot = nearest(session, t, s, moment)
            shown.append(
                Camera(
                    t,
                    s,
                    shot,
                    signed(shot.timestamp - moment) if shot else "",
                    view.href("/at", terminal=t, stream=s, time=moment.isoformat()),
                )
            )
    chosen = {"stream": ",".join(f"{t}/{s}" for t, s in pairs)} if names else {}
    own = {**chosen, "time": moment.isoformat()}
    view = replace(view, params=tuple(own.items()))
    step = timedelta(minutes=archive.cadence_minutes)

    def at(when: datetime) -> str:
        return view.href("/at", **chosen, time=when.isoformat())

    asked = moment.astimezone(view.zone)
    context: dict[str, Any] = {
        "cameras": shown,
        "moment": moment,
        "step": duration(step),
        "previous_href": at(moment - step),
        "next_href": at(moment + step),
        "near": duration(timeline.NEAR),
        "form": {
            "terminals": list(dict.fromkeys(s.terminal for s in streams)),
            "streams": list(dict.fromkeys(s.stream for s in streams)),
            "chosen": {"time": asked.strftime("%Y-%m-%dT%H:%M")},
            "tz": view.tz_param or view.default_tz,
        },
    }
    title = f"{len(shown)} cameras at {asked:%a %Y-%m-%d %H:%M} {offset(asked)}"
    return HTMLResponse(page("at_all.html", title, view, **context))
