"""A day to take away: its originals with a manifest (tar, zip), and its timelapse MP4."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from gatecam import export
from gatecam.errors import InputError
from gatecam.export import daily
from gatecam.export.bundle import MEDIA_TYPES
from gatecam.export.selection import Contents
from gatecam.export.timelapse import parse_fps, require_frames
from gatecam.model import is_name
from gatecam.web import timeline
from gatecam.web.common import Archive, json_response
from gatecam.web.pages import View, view_of


def _day_selection(request: Request, view: View) -> export.Selection:
    terminal, stream, text = (request.path_params[k] for k in ("terminal", "stream", "day"))
    day = timeline.path_day(text)
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
    selection = _day_selection(request, view_of(archive, request))
    contents = _contents(archive, selection)
    return StreamingResponse(
        export.bundle_chunks(contents, archive.store, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{selection.name}.{fmt}"'},
    )


def _timelapse_contents(archive: Archive, request: Request) -> tuple[View, Contents]:
    view = view_of(archive, request)
    try:
        return view, require_frames(_contents(archive, _day_selection(request, view)))
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None


def _kept(archive: Archive, view: View, contents: Contents, fps: int) -> bool:
    """Whether the day's video is one that is kept: at the default rate, in the archive's
    zone (whose days the scheduler renders)."""
    return fps == daily.FPS and view.zone.key == archive.zone.key


def day_timelapse(archive: Archive, request: Request) -> Response:
    """The day as an MP4 (``?fps=``, default 12): the kept file when it shows the day's
    images as they are, else encoded while it is sent."""
    fps = parse_fps(request.query_params.get("fps", str(daily.FPS)))
    view, contents = _timelapse_contents(archive, request)
    disposition = {"Content-Disposition": f'inline; filename="{contents.selection.name}.mp4"'}
    kept = archive.videos.kept(contents) if _kept(archive, view, contents, fps) else None
    if kept is not None:
        return FileResponse(kept, media_type="video/mp4", headers=disposition)
    return StreamingResponse(
        export.timelapse_chunks(contents, archive.store, fps=fps),
        media_type="video/mp4",
        headers=disposition,
    )


def timelapse_progress(archive: Archive, request: Request) -> Response:
    """How far the day's kept video is, starting its encode if none runs (JSON).

    ``state`` is ready, encoding (``done`` of ``total`` images), waiting (behind another
    day's encode) or stream (not kept: play ``src`` as it is encoded); ``src`` is the video.
    """
    view, contents = _timelapse_contents(archive, request)
    s = contents.selection
    src = f"/{s.terminal}/{s.stream}/{s.first}/timelapse.mp4"
    if view.tz_param is not None:
        src += "?" + urlencode({"tz": view.tz_param})
    if not _kept(archive, view, contents, daily.FPS):
        answer: dict[str, object] = {"state": "stream", "reason": "not in the archive's zone"}
    else:
        answer = archive.videos.progress(contents, archive.store)
    return json_response({**answer, "src": src})
