"""``gatecam web``: a read-only page over HTTP to look through the archive by day and time."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple, cast
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gatecam.database import queries
from gatecam.database.engine import Database, reason
from gatecam.database.models import StreamCounter
from gatecam.errors import InputError
from gatecam.httpserver import LocalHandler, LocalServer
from gatecam.sources.base import NAME_PATTERN
from gatecam.web import pages, timeline
from gatecam.web.pages import View

log = logging.getLogger(__name__)

# An image row never changes its file (the CDN's bytes are immutable too).
_IMMUTABLE = "public, max-age=31536000, immutable"
_DAY_PATH = re.compile(
    r"/(?P<terminal>[a-z0-9_-]+)/(?P<stream>[a-z0-9_-]+)/(?P<day>\d{4}-\d{2}-\d{2})"
)
_IMAGE_PATH = re.compile(r"/image/(?P<id>[0-9]{1,18})")


class ArchiveWeb(LocalServer):
    """The archive web page on one port; it only reads the database and the image files."""

    def __init__(
        self,
        db: Database,
        download_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tz: str = "America/Los_Angeles",
    ) -> None:
        self.db = db
        self.download_dir = Path(download_dir)
        self.zone = timeline.zone(tz)
        super().__init__(host, port, _Handler)


class _Handler(LocalHandler):
    server_version = "gatecam-web"

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def _route(self, *, head: bool) -> None:
        # Drain any body so the next request on a kept-alive connection parses.
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        path = parts.path
        params = {name: values[0] for name, values in parse_qs(parts.query).items()}
        web = cast(ArchiveWeb, self.server.owner)
        try:
            # The session is closed before anything is sent: a client that has its answer
            # holds no connection of the pool.
            with web.db.session_scope() as session:
                reply = _answer(web, session, path, params)
        except InputError as exc:
            reply = _text(HTTPStatus.BAD_REQUEST, str(exc))
        except SQLAlchemyError as exc:
            log.warning("web: database error for %s: %s", path, reason(exc))
            reply = _text(HTTPStatus.SERVICE_UNAVAILABLE, f"database error: {reason(exc)}")
        if isinstance(reply, Path):
            try:
                reply = _Reply(HTTPStatus.OK, reply.read_bytes(), "image/jpeg", _IMMUTABLE)
            except OSError:  # removed or unreadable since the row was read
                reply = _text(HTTPStatus.NOT_FOUND, "no such image")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", reply.cache)
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)


class _Reply(NamedTuple):
    status: HTTPStatus
    body: bytes
    content_type: str
    cache: str = "no-store"


def _text(status: HTTPStatus, message: str) -> _Reply:
    body = f"{status.value} {status.phrase}: {message}\n".encode()
    return _Reply(status, body, "text/plain; charset=utf-8")


def _html(page: str) -> _Reply:
    return _Reply(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")


def _answer(web: ArchiveWeb, session: Session, path: str, params: dict[str, str]) -> _Reply | Path:
    """The reply to one GET, or the image file to send once the session is closed."""
    if image := _IMAGE_PATH.fullmatch(path):
        found = timeline.image_file(session, int(image["id"]), web.download_dir)
        return found if found is not None else _text(HTTPStatus.NOT_FOUND, "no such image")
    if path == "/api/stats":
        names = session.scalars(select(StreamCounter.terminal).distinct())
        data = {t: queries.get_stats(session, t) for t in sorted(names)}
        body = json.dumps(data, default=_json_default, sort_keys=True).encode()
        return _Reply(HTTPStatus.OK, body, "application/json")
    if path == "/":
        view = _view(web, params, path)
        streams = timeline.streams(session)
        recents = [timeline.recent(session, s, view.now, view.zone) for s in streams]
        terminals = dict.fromkeys(s.terminal for s in streams)
        stats = {t: queries.get_stats(session, t) for t in terminals}
        runs = timeline.recent_runs(session)
        return _html(pages.index_page(view, stats, recents, runs))
    if path == "/at":
        return _at(web, session, params)
    if (match := _DAY_PATH.fullmatch(path)) and (day := timeline.parse_day(match["day"])):
        terminal, stream = match["terminal"], match["stream"]
        if not _known(session, terminal, stream):
            return _text(HTTPStatus.NOT_FOUND, f"{terminal} / {stream} is not in the archive")
        view = _view(web, params, path)
        start, end = timeline.day_bounds(day, view.zone)
        shots = timeline.shots_between(session, terminal, stream, start, end)
        items = timeline.timeline(shots, start, end, view.now)
        return _html(pages.day_page(view, terminal, stream, day, items))
    return _text(HTTPStatus.NOT_FOUND, "not found")


def _view(web: ArchiveWeb, params: dict[str, str], path: str) -> View:
    tz = params.get("tz") or None
    return View(
        zone=timeline.zone(tz) if tz else web.zone,
        default_tz=web.zone.key,
        tz_param=tz,
        now=datetime.now(UTC),
        here=path,
        params=tuple((k, v) for k, v in params.items() if k != "tz"),
    )


def _at(web: ArchiveWeb, session: Session, params: dict[str, str]) -> _Reply:
    terminal, stream, text = (params.get(k, "") for k in ("terminal", "stream", "time"))
    if not (terminal and stream and text):
        raise InputError(f"terminal, stream and time are all needed ({timeline.TIME_HELP})")
    if not (NAME_PATTERN.fullmatch(terminal) and NAME_PATTERN.fullmatch(stream)):
        raise InputError("terminal and stream must be names of a-z, 0-9, _ and -")
    view = _view(web, params, "/at")
    moment = timeline.parse_moment(text, view.zone)
    if not _known(session, terminal, stream):
        raise InputError(f"{terminal} / {stream} is not in the archive")
    # Switching zone must keep the moment, so the zone links carry it with its offset.
    own = {"terminal": terminal, "stream": stream, "time": moment.isoformat()}
    view = replace(view, params=tuple(own.items()))
    older = timeline.shot_before(session, terminal, stream, moment)
    newer = timeline.shot_after(session, terminal, stream, moment)
    near = [s for s in (older, newer) if s and abs(s.timestamp - moment) <= timeline.NEAR]
    shown = min(near, key=lambda s: abs(s.timestamp - moment), default=None)
    # Previous and next are the shown image's own neighbours, to step through the day.
    if shown is not None and shown is older:
        older = timeline.shot_before(session, terminal, stream, shown.timestamp, inclusive=False)
    elif shown is not None:
        newer = timeline.shot_after(session, terminal, stream, shown.timestamp)
    streams = timeline.streams(session)
    return _html(pages.at_page(view, streams, terminal, stream, moment, shown, older, newer))


def _known(session: Session, terminal: str, stream: str) -> bool:
    return session.get(StreamCounter, (terminal, stream)) is not None


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
