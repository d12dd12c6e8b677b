"""The archive web app: HTML pages, images, health, metrics and the JSON API, on Starlette."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gatecam.archive import Archive as OpenArchive
from gatecam.database import browse, frames
from gatecam.database.engine import reason
from gatecam.database.missed import missed_images
from gatecam.database.stats import stream_errors
from gatecam.days import DEFAULT_TIMEZONE
from gatecam.errors import InputError
from gatecam.export import daily
from gatecam.health import coverage
from gatecam.health import frozen as camerastate
from gatecam.health.read import verdicts
from gatecam.model import is_name
from gatecam.settings import SILENT_MINUTES
from gatecam.web import api, docs, downloads, files, pages, timeline, together
from gatecam.web import metrics as web_metrics
from gatecam.web.auth import TokenGuard
from gatecam.web.common import Archive, json_response
from gatecam.web.headers import SecurityHeaders
from gatecam.web.health import health, limits
from gatecam.web.openapi import SPEC
from gatecam.web.pages import View, view_in, view_of
from gatecam.web.thumbs import ThumbnailCache
from gatecam.web.videos import Videos

log = logging.getLogger(__name__)

# Worker threads for the handlers. Python runs one thread at a time and the database
# drivers let go of it on every call, so past a few threads each request pays for handing it
# around: on 2 cores, 4 threads served 15-20 % more requests a second than 12 on SQLite and
# on PostgreSQL (bench/web.py), and still overlap PostgreSQL's round trips. Fewer than the
# pooled connections: no request waits for one while holding a thread.
WEB_THREADS = 4
# Days of hourly coverage drawn per stream on the index page.
CHART_DAYS = 7


class ThreadPool:
    """ASGI middleware giving the event loop's worker-thread limiter ``threads`` tokens.

    Starlette runs plain-function endpoints through anyio's default limiter, 40 threads:
    more than the database pool has connections, and on a small machine more threads only
    contend for the GIL.
    """

    def __init__(self, app: ASGIApp, threads: int) -> None:
        self.app = app
        self.threads = threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        if limiter.total_tokens != self.threads:
            limiter.total_tokens = self.threads
        await self.app(scope, receive, send)


def _error_view(request: Request) -> View | None:
    """The frame of an HTML error page: in the zone asked, or the archive's if that is bad."""
    archive: Archive | None = getattr(request.app.state, "archive", None)
    if archive is None:
        return None
    try:
        return view_of(archive, request)
    except InputError:
        return replace(view_in(archive, None), here=request.url.path)


async def _on_error(request: Request, exc: Exception) -> Response:
    path = request.url.path
    view = _error_view(request)
    if isinstance(exc, InputError):
        return docs.error(view, request, 400, str(exc))
    if isinstance(exc, SQLAlchemyError):
        log.warning("web: database error for %s: %s", path, reason(exc))
        return docs.error(view, request, 503, f"database error: {reason(exc)}")
    if isinstance(exc, HTTPException):
        detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "not found"
        # A 405 keeps Starlette's Allow header (RFC 9110 requires it).
        return docs.error(view, request, exc.status_code, str(detail), exc.headers)
    raise exc  # pragma: no cover - only the classes registered below arrive here


def _recent(
    session: Session,
    stream: browse.Stream,
    view: View,
    cameras: dict[tuple[str, str], camerastate.CameraState] | None = None,
) -> timeline.Recent:
    newest = browse.newest(session, stream.terminal, stream.stream)
    began = browse.archive_start(session, stream.terminal, stream.stream)
    days = sorted(timeline.recent_days(newest, view.now, view.zone))
    edges = [timeline.day_bounds(d, view.zone)[0] for d in days]
    edges.append(timeline.day_bounds(days[-1], view.zone)[1])
    counts = browse.bucket_counts(session, stream.terminal, stream.stream, edges)
    listed: list[tuple[date, int | None]] = [
        (day, None if timeline.before_archive(edges[n + 1], began) else counts[n])
        for n, day in enumerate(days)
    ]
    latest = browse.shot_before(session, stream.terminal, stream.stream, view.now)
    camera = (cameras or {}).get((stream.terminal, stream.stream))
    frozen_since = camera.since if camera is not None and camera.frozen else None
    return timeline.Recent(stream, newest, began, listed[::-1], latest, frozen_since)


def _chart(
    session: Session, archive: Archive, recent: timeline.Recent, view: View
) -> coverage.StreamCoverage:
    """Hourly coverage of the newest CHART_DAYS days listed for the stream."""
    days = [day for day, _ in recent.days[:CHART_DAYS]]
    start = timeline.day_bounds(days[-1], view.zone)[0]
    end = timeline.day_bounds(days[0], view.zone)[1]
    s = recent.stream
    times = browse.held_times(session, s.terminal, s.stream, start, end)
    window, found = frames.flags_between(session, s.terminal, s.stream, start, end)
    flagged = [(f.timestamp, found[f.id]) for f in window if f.id in found]
    lost = missed_images(session, start, end, [(s.terminal, s.stream)])
    cadence = timedelta(minutes=archive.cadence_minutes)
    return coverage.stream_coverage(
        s.terminal,
        s.stream,
        times,
        recent.began,
        start,
        end,
        view.now,
        cadence,
        flagged,
        lost,
        zone=view.zone,
    )


def index(archive: Archive, request: Request) -> Response:
    """Every stream's recent days and chart; rendered again only when the counters move.

    The counters move with every stored batch and run, so the fingerprint (one summed row)
    tells whether the cached page is still the archive's; the minute of ``now`` is part of
    the state too, for the page's "ago" texts and the open gap of today. While one request
    draws a new state, the others get the page as it was a moment ago. Drawing it reads
    again only the streams whose own counters or camera moved: a batch of one stream, the
    job's usual step, cost a redraw of all of them (about 150 ms for 19 on PostgreSQL).
    """
    view = view_of(archive, request)
    minute = view.now.replace(second=0, microsecond=0)
    page_key = (view.zone.key, view.tz_param, view.here, view.params)

    def render() -> str:
        with archive.db.read_scope() as session:
            streams = browse.streams(session)
            cameras = {(c.terminal, c.stream): c for c in camerastate.camera_states(session)}

            def section(stream: browse.Stream) -> str:
                def draw() -> str:
                    recent = _recent(session, stream, view, cameras)
                    chart = _chart(session, archive, recent, view)
                    return pages.stream_section(view, recent, chart)

                camera = cameras.get((stream.terminal, stream.stream))
                key = (*page_key, stream.terminal, stream.stream)
                return archive.sections.get(key, (minute, stream, camera), draw)

            sections = [(stream, section(stream)) for stream in streams]
            stats = browse.stats_by_terminal(session)
            runs = browse.recent_runs(session)
            states = verdicts(
                session, archive.streams, view.now, limits(archive), list(cameras.values())
            )
            errors = stream_errors(session)
        return pages.index_page(view, stats, sections, runs, states, errors)

    state = browse.fingerprint(archive.db)
    return HTMLResponse(archive.pages.get(page_key, (minute, state), render))


def day_page(archive: Archive, request: Request) -> Response:
    terminal, stream, text = (request.path_params[k] for k in ("terminal", "stream", "day"))
    day = timeline.path_day(text)
    if not (is_name(terminal) and is_name(stream)) or day is None:
        raise HTTPException(404)
    view = view_of(archive, request)
    start, end = timeline.day_bounds(day, view.zone)
    with archive.db.read_scope() as session:
        if not browse.known(session, terminal, stream):
            known = together.known_text(browse.streams(session))
            raise HTTPException(
                404, f"{terminal} / {stream} is not in the archive (known: {known})"
            )
        shots = browse.shots_between(session, terminal, stream, start, end)
        began = browse.archive_start(session, terminal, stream)
        _, flags = frames.flags_between(session, terminal, stream, start, end)
        missed = missed_images(session, start, end, [(terminal, stream)])
    items = timeline.timeline(shots, start, end, view.now, began)
    before = timeline.before_archive(end, began)
    page = pages.day_page(view, terminal, stream, day, items, before, flags, missed)
    return HTMLResponse(page)


def _default_terminal(session: Session, stream: str) -> str:
    """The terminal of ``stream`` when a link leaves it out (README: /at?stream=in_gate&...)."""
    for s in browse.streams(session):
        if s.stream == stream:
            return s.terminal
    known = together.known_text(browse.streams(session))
    raise InputError(f"stream {stream} is not in the archive (known: {known})")


def at_page(archive: Archive, request: Request) -> Response:
    if together.is_several(request):
        return together.at_all(archive, request, view_of(archive, request))
    params = request.query_params
    terminal, stream, text = (params.get(k, "") for k in ("terminal", "stream", "time"))
    if "/" in stream:
        terminal, _, stream = stream.rpartition("/")
    if not (stream and text):
        raise InputError(f"stream and time are both needed ({timeline.TIME_HELP})")
    if not (is_name(terminal or "x") and is_name(stream)):
        raise InputError("terminal and stream must be names of a-z, 0-9, _ and -")
    view = view_of(archive, request)
    moment = timeline.parse_shown_time(text, view.zone)
    with archive.db.read_scope() as session:
        terminal = terminal or _default_terminal(session, stream)
        if not browse.known(session, terminal, stream):
            known = together.known_text(browse.streams(session))
            raise InputError(f"{terminal} / {stream} is not in the archive (known: {known})")
        older = browse.shot_before(session, terminal, stream, moment)
        newer = browse.shot_after(session, terminal, stream, moment)
        near = [s for s in (older, newer) if s and abs(s.timestamp - moment) <= timeline.NEAR]
        shown = min(near, key=lambda s: abs(s.timestamp - moment), default=None)
        # Previous and next are the shown image's own neighbours, to step through the day.
        if shown is not None and shown is older:
            older = browse.shot_before(session, terminal, stream, shown.timestamp, inclusive=False)
        elif shown is not None:
            newer = browse.shot_after(session, terminal, stream, shown.timestamp)
        streams = browse.streams(session)
    # Switching zone must keep the moment, so the zone links carry it with its offset.
    own = {"terminal": terminal, "stream": stream, "time": moment.isoformat()}
    view = replace(view, params=tuple(own.items()))
    page = pages.at_page(view, streams, terminal, stream, moment, shown, older, newer)
    return HTMLResponse(page)


def metrics_page(archive: Archive, request: Request) -> Response:
    # The archive's gauges are drawn once per minute and state of the counters, like /healthz.
    try:
        version = (
            datetime.now(UTC).replace(second=0, microsecond=0),
            browse.fingerprint(archive.db),
        )
        gauges = archive.answers.get(
            "metrics",
            version,
            lambda: web_metrics.archive_exposition(archive.db, archive.streams, limits(archive)),
        )
    except SQLAlchemyError:
        gauges = web_metrics.archive_exposition(
            archive.db, archive.streams, limits(archive)
        )  # says it is down
    body = web_metrics.process_exposition() + gauges
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def openapi(archive: Archive, request: Request) -> Response:
    return json_response(SPEC)


def docs_page(archive: Archive, request: Request) -> Response:
    return docs.docs_page(view_of(archive, request))


def create_app(
    opened: OpenArchive,
    *,
    tz: str = DEFAULT_TIMEZONE,
    token: str | None = None,
    interval_minutes: float = 10,
    streams: Sequence[tuple[str, str]] | None = None,
    thumb_dir: Path | None = None,
    silent_minutes: float = SILENT_MINUTES,
) -> Starlette:
    """The web app of an opened archive; raises InputError if ``tz`` is not a zone.

    ``streams`` are the (terminal, stream) pairs /healthz and /metrics judge; None judges
    every stream that ran in the last day. A stream whose newest image is older than
    ``silent_minutes`` is silent. Thumbnails are kept in ``thumb_dir``, by default
    ``.thumbs`` in a local archive folder (outside the key layout, so verify never takes them
    for images); in memory only for a bucket unless a folder is given.
    """
    if interval_minutes <= 0:
        raise InputError(f"interval must be positive, not {interval_minutes}")
    if token is not None and not token.strip():
        raise InputError("the web token is empty: give a token, or None to serve without one")
    if thumb_dir is None:
        thumb_dir = opened.store.derived_folder("thumbs")
    archive = Archive(
        opened.db,
        opened.store,
        timeline.zone(tz),
        timedelta(minutes=interval_minutes),
        ThumbnailCache(folder=thumb_dir),
        streams=None if streams is None else tuple((t, s) for t, s in streams),
        silent_after=timedelta(minutes=silent_minutes),
        videos=Videos(opened.store.derived_folder(daily.FOLDER)),
    )

    def bound(handler: Any) -> Any:
        # Plain functions: Starlette runs them in a worker thread (sized by ThreadPool
        # below), since SQLAlchemy blocks; the event loop never waits on the database.
        def endpoint(request: Request) -> Response:
            response: Response = handler(archive, request)
            return response

        return endpoint

    routes = [
        Route("/", bound(index)),
        Route("/at", bound(at_page)),
        Route("/healthz", bound(health)),
        Route("/metrics", bound(metrics_page)),
        Route("/openapi.json", bound(openapi)),
        Route("/docs", bound(docs_page)),
        Route("/docs/openapi.json", bound(docs.docs_spec)),
        Route("/static/{name}", bound(files.static_file)),
        Route("/static/swagger/{name}", bound(docs.swagger_file)),
        Route("/image/{id:int}", bound(files.image)),
        Route("/image/{id:int}/thumb", bound(files.thumbnail)),
        *(Route(path, bound(handler)) for path, handler in api.ROUTES),
        # Last: any three segments would match it.
        Route("/{terminal}/{stream}/{day}", bound(day_page)),
        Route("/{terminal}/{stream}/{day}/timelapse.mp4", bound(downloads.day_timelapse)),
        Route("/{terminal}/{stream}/{day}/timelapse.json", bound(downloads.timelapse_progress)),
        Route("/{terminal}/{stream}/{day}/images.{fmt}", bound(downloads.day_download)),
    ]
    handlers: dict[Any, Any] = {
        InputError: _on_error,
        SQLAlchemyError: _on_error,
        HTTPException: _on_error,
    }
    # Outermost first: the token guard's own 401 and 303 answers get the headers too.
    middleware = [Middleware(SecurityHeaders), Middleware(ThreadPool, threads=WEB_THREADS)]
    if token is not None:
        middleware.append(Middleware(TokenGuard, token=token))
    app = Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
    app.state.archive = archive  # its caches, for those who watch their size
    return app
