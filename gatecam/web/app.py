"""The archive web app: HTML pages, images, health, metrics and the JSON API, on Starlette."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from gatecam import __version__, camerastate, coverage, export, metrics
from gatecam.archive import Archive as OpenArchive
from gatecam.database import browse, frames
from gatecam.database.engine import reason
from gatecam.errors import InputError
from gatecam.export.bundle import MEDIA_TYPES
from gatecam.export.selection import Contents
from gatecam.export.timelapse import check_fps, require_frames
from gatecam.model import is_name
from gatecam.web import api, pages, timeline
from gatecam.web.auth import TokenGuard
from gatecam.web.common import Archive, error_response, json_response
from gatecam.web.headers import SecurityHeaders
from gatecam.web.openapi import SPEC
from gatecam.web.pages import View
from gatecam.web.thumbs import ThumbnailCache, make_thumbnail

log = logging.getLogger(__name__)

# An image row never changes its bytes (the CDN's are immutable too).
IMMUTABLE = "public, max-age=31536000, immutable"
# Days of hourly coverage drawn per stream on the index page.
CHART_DAYS = 7
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


async def _on_error(request: Request, exc: Exception) -> Response:
    path = request.url.path
    if isinstance(exc, InputError):
        return error_response(path, 400, str(exc))
    if isinstance(exc, SQLAlchemyError):
        log.warning("web: database error for %s: %s", path, reason(exc))
        return error_response(path, 503, f"database error: {reason(exc)}")
    if isinstance(exc, HTTPException):
        detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "not found"
        # A 405 keeps Starlette's Allow header (RFC 9110 requires it).
        return error_response(path, exc.status_code, str(detail), exc.headers)
    raise exc  # pragma: no cover - only the classes registered below arrive here


def _view(archive: Archive, request: Request) -> View:
    params = dict(request.query_params)
    tz = params.get("tz") or None
    return View(
        zone=timeline.zone(tz) if tz else archive.zone,
        default_tz=archive.zone.key,
        tz_param=tz,
        now=datetime.now(UTC),
        here=request.url.path,
        params=tuple((k, v) for k, v in params.items() if k not in ("tz", "token")),
    )


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
    cadence = timedelta(minutes=archive.cadence_minutes)
    return coverage.stream_coverage(
        s.terminal, s.stream, times, recent.began, start, end, view.now, cadence
    )


def index(archive: Archive, request: Request) -> Response:
    view = _view(archive, request)
    with archive.db.session_scope() as session:
        streams = browse.streams(session)
        cameras = {(c.terminal, c.stream): c for c in camerastate.camera_states(session)}
        recents = [_recent(session, s, view, cameras) for s in streams]
        charts = [_chart(session, archive, r, view) for r in recents]
        stats = browse.stats_by_terminal(session)
        runs = browse.recent_runs(session)
    return HTMLResponse(pages.index_page(view, stats, recents, runs, charts))


def day_page(archive: Archive, request: Request) -> Response:
    terminal, stream, text = (request.path_params[k] for k in ("terminal", "stream", "day"))
    day = timeline.parse_day(text) if _DAY.fullmatch(text) else None
    if not (is_name(terminal) and is_name(stream)) or day is None:
        raise HTTPException(404)
    view = _view(archive, request)
    start, end = timeline.day_bounds(day, view.zone)
    with archive.db.session_scope() as session:
        if not browse.known(session, terminal, stream):
            raise HTTPException(404, f"{terminal} / {stream} is not in the archive")
        shots = browse.shots_between(session, terminal, stream, start, end)
        began = browse.archive_start(session, terminal, stream)
        _, flags = frames.flags_between(session, terminal, stream, start, end)
    items = timeline.timeline(shots, start, end, view.now, began)
    before = timeline.before_archive(end, began)
    return HTMLResponse(pages.day_page(view, terminal, stream, day, items, before, flags))


def _default_terminal(session: Session, stream: str) -> str:
    """The terminal of ``stream`` when a link leaves it out (README: /at?stream=in_gate&...)."""
    for s in browse.streams(session):
        if s.stream == stream:
            return s.terminal
    raise InputError(f"stream {stream} is not in the archive")


def at_page(archive: Archive, request: Request) -> Response:
    params = request.query_params
    terminal, stream, text = (params.get(k, "") for k in ("terminal", "stream", "time"))
    if not (stream and text):
        raise InputError(f"stream and time are both needed ({timeline.TIME_HELP})")
    if not (is_name(terminal or "x") and is_name(stream)):
        raise InputError("terminal and stream must be names of a-z, 0-9, _ and -")
    view = _view(archive, request)
    moment = timeline.parse_moment(text, view.zone)
    with archive.db.session_scope() as session:
        terminal = terminal or _default_terminal(session, stream)
        if not browse.known(session, terminal, stream):
            raise InputError(f"{terminal} / {stream} is not in the archive")
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


def image_bytes(archive: Archive, image_id: int) -> bytes:
    """The stored bytes of an image; HTTPException 404 if the row or its bytes are gone."""
    with archive.db.session_scope() as session:
        row = browse.image(session, image_id)
        key = None if row is None else row.filepath
    if key is None:
        raise HTTPException(404, "no such image")
    try:
        return archive.store.get(key)
    except (FileNotFoundError, IsADirectoryError, ValueError):
        # ValueError: a row whose key would leave the store (LocalStore refuses it).
        raise HTTPException(404, "no such image") from None
    except OSError as exc:
        log.warning("web: cannot read image %s: %s", key, exc)
        raise HTTPException(503, f"cannot read the image: {exc.strerror or exc}") from None


def image(archive: Archive, request: Request) -> Response:
    data = image_bytes(archive, request.path_params["id"])
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": IMMUTABLE})


def thumbnail(archive: Archive, request: Request) -> Response:
    image_id: int = request.path_params["id"]

    def make() -> bytes:
        try:
            return make_thumbnail(image_bytes(archive, image_id))
        except ValueError as exc:
            raise HTTPException(404, f"no thumbnail: {exc}") from None

    data = archive.thumbs.get(image_id, make)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": IMMUTABLE})


def health(archive: Archive, request: Request) -> Response:
    """200 when the database answers and every stream that runs ran well lately, else 503."""
    now = datetime.now(UTC)
    limit = 3 * archive.interval
    try:
        with archive.db.session_scope() as session:
            browse.ping(session)
            successes = browse.last_successes(session)
    except SQLAlchemyError as exc:
        why = f"database: {reason(exc)}"
        failed: dict[str, Any] = {
            "status": "unhealthy",
            "database": why,
            "streams": [],
            "reason": why,
        }
        return json_response(failed, 503)
    streams: list[dict[str, Any]] = []
    reasons: list[str] = []
    for (terminal, stream), last in successes.items():
        fresh = last is not None and now - last < limit
        streams.append(
            {"terminal": terminal, "stream": stream, "last_success": last, "fresh": fresh}
        )
        if last is None:
            reasons.append(f"{terminal}/{stream}: no successful run yet")
        elif not fresh:
            age = int((now - last).total_seconds() // 60)
            limit_min = int(limit.total_seconds() // 60)
            reasons.append(
                f"{terminal}/{stream}: last successful run {age} min ago (limit {limit_min} min)"
            )
    try:
        with archive.db.session_scope() as session:
            reasons += camerastate.health_reasons(session)
    except SQLAlchemyError as exc:
        reasons.append(f"database: {reason(exc)}")
    body: dict[str, Any] = {
        "status": "unhealthy" if reasons else "ok",
        "database": "ok",
        "streams": streams,
        "reason": "; ".join(reasons) or None,
        "version": __version__,
    }
    return json_response(body, 503 if reasons else 200)


def metrics_page(archive: Archive, request: Request) -> Response:
    return Response(metrics.exposition(archive.db), media_type=CONTENT_TYPE_LATEST)


def openapi(archive: Archive, request: Request) -> Response:
    return json_response(SPEC)


def _day_selection(request: Request, view: View) -> export.Selection:
    terminal, stream, text = (request.path_params[k] for k in ("terminal", "stream", "day"))
    day = timeline.parse_day(text) if _DAY.fullmatch(text) else None
    if not (is_name(terminal) and is_name(stream)) or day is None:
        raise HTTPException(404)
    return export.Selection(terminal, stream, day, day, view.zone)


def _contents(archive: Archive, selection: export.Selection) -> Contents:
    try:
        return export.select_images(archive.db, selection)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None


def day_download(archive: Archive, request: Request) -> Response:
    """The day's originals and manifest as a tar or zip, streamed image by image."""
    fmt = request.path_params["fmt"]
    if fmt not in export.FORMATS:
        raise HTTPException(404)
    selection = _day_selection(request, _view(archive, request))
    contents = _contents(archive, selection)
    return StreamingResponse(
        export.bundle_chunks(contents, archive.store, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{selection.name}.{fmt}"'},
    )


def day_timelapse(archive: Archive, request: Request) -> Response:
    """The day as an MP4 (``?fps=``, default 12), encoded while it is sent."""
    text = request.query_params.get("fps", "12")
    if not text.isdigit():
        raise InputError(f"fps must be a whole number, not {text!r}")
    fps = check_fps(int(text))
    selection = _day_selection(request, _view(archive, request))
    try:
        contents = require_frames(_contents(archive, selection))
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return StreamingResponse(
        export.timelapse_chunks(contents, archive.store, fps=fps),
        media_type="video/mp4",
        headers={"Content-Disposition": f'inline; filename="{selection.name}.mp4"'},
    )


def create_app(
    opened: OpenArchive,
    *,
    tz: str = "America/Los_Angeles",
    token: str | None = None,
    interval_minutes: float = 10,
) -> Starlette:
    """The web app of an opened archive; raises InputError if ``tz`` is not a zone."""
    if interval_minutes <= 0:
        raise InputError(f"interval must be positive, not {interval_minutes}")
    if token is not None and not token.strip():
        raise InputError("the web token is empty: give a token, or None to serve without one")
    archive = Archive(
        opened.db,
        opened.store,
        timeline.zone(tz),
        timedelta(minutes=interval_minutes),
        ThumbnailCache(),
    )

    def bound(handler: Any) -> Any:
        # Plain functions: Starlette runs them in its thread pool, as SQLAlchemy here blocks.
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
        Route("/image/{id:int}", bound(image)),
        Route("/image/{id:int}/thumb", bound(thumbnail)),
        *(Route(path, bound(handler)) for path, handler in api.ROUTES),
        # Last: any three segments would match it.
        Route("/{terminal}/{stream}/{day}", bound(day_page)),
        Route("/{terminal}/{stream}/{day}/timelapse.mp4", bound(day_timelapse)),
        Route("/{terminal}/{stream}/{day}/images.{fmt}", bound(day_download)),
    ]
    handlers: dict[Any, Any] = {
        InputError: _on_error,
        SQLAlchemyError: _on_error,
        HTTPException: _on_error,
    }
    # Outermost first: the token guard's own 401 and 303 answers get the headers too.
    middleware = [Middleware(SecurityHeaders)]
    if token is not None:
        middleware.append(Middleware(TokenGuard, token=token))
    return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
