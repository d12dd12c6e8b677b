"""A day to take away: its originals with a manifest (tar, zip), and its timelapse MP4."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gatecam import export
from gatecam.errors import InputError
from gatecam.export.bundle import MEDIA_TYPES
from gatecam.export.selection import Contents
from gatecam.export.timelapse import parse_fps, require_frames
from gatecam.model import is_name
from gatecam.web import timeline
from gatecam.web.common import Archive
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


def day_timelapse(archive: Archive, request: Request) -> Response:
    """The day as an MP4 (``?fps=``, default 12), encoded while it is sent."""
    fps = parse_fps(request.query_params.get("fps", "12"))
    selection = _day_selection(request, view_of(archive, request))
    try:
        contents = require_frames(_contents(archive, selection))
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return StreamingResponse(
        export.timelapse_chunks(contents, archive.store, fps=fps),
        media_type="video/mp4",
        headers={"Content-Disposition": f'inline; filename="{selection.name}.mp4"'},
    )
