"""What every handler of the web app shares: the archive it reads and the shape of its replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import PlainTextResponse, Response

from gatecam.database.engine import Database
from gatecam.settings import SILENT_MINUTES
from gatecam.storage.base import ImageStore
from gatecam.web.pagecache import PageCache
from gatecam.web.thumbs import ThumbnailCache
from gatecam.web.videos import Videos


@dataclass(frozen=True)
class Archive:
    """What every request reads: the database, the image bytes, and how to show time."""

    db: Database
    store: ImageStore
    zone: ZoneInfo
    interval: timedelta
    thumbs: ThumbnailCache
    pages: PageCache[str] = field(default_factory=PageCache)
    # Each stream's part of the index page (its recent days and chart), drawn once per state
    # of that stream's counters and camera: a batch of one stream redraws that stream alone.
    sections: PageCache[str] = field(default_factory=lambda: PageCache(capacity=1024))
    # /healthz, /api/stats and the archive's gauges, drawn once per state of the counters
    # and minute (second for /api/stats).
    answers: PageCache[Any] = field(default_factory=PageCache)
    # /api/images pages, once per state of the counters: few, as a page can be a megabyte.
    image_pages: PageCache[str] = field(default_factory=lambda: PageCache(capacity=32))
    cadence_minutes: int = 10
    # Longer than this without a new image, a stream's camera is silent (gatecam.health).
    silent_after: timedelta = timedelta(minutes=SILENT_MINUTES)
    # The (terminal, stream) pairs health and metrics judge; None: those that ran lately.
    streams: tuple[tuple[str, str], ...] | None = None
    # The days' kept timelapses (gatecam.export.daily), and the encodes the page started.
    videos: Videos = field(default_factory=lambda: Videos(None))


def json_response(data: Any, status: int = 200) -> Response:
    return json_text_response(json_text(data), status)


def json_text(data: Any) -> str:
    """``data`` as the API's JSON text: sorted keys, times in ISO 8601 with their offset."""
    return json.dumps(data, default=_json_default, sort_keys=True)


def json_text_response(body: str, status: int = 200) -> Response:
    """An answer already encoded by json_text, as kept for many requests."""
    return Response(body, status_code=status, media_type="application/json")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def wants_json(path: str) -> bool:
    """Everything but the HTML pages answers errors in JSON, as /openapi.json documents."""
    return (
        path.startswith(("/api/", "/image/"))
        or path.endswith(".json")
        or path
        in (
            "/openapi.json",
            "/healthz",
            "/metrics",
        )
    )


def error_response(
    path: str, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """Every error in one shape: ``{"error": ...}`` for the API, one text line for pages."""
    if wants_json(path):
        response = json_response({"error": message}, status)
    else:
        phrase = HTTPStatus(status).phrase
        response = PlainTextResponse(f"{status} {phrase}: {message}\n", status_code=status)
    response.headers.update(headers or {})
    return response
