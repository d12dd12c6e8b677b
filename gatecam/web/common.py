"""What every handler of the web app shares: the archive it reads and the shape of its replies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import PlainTextResponse, Response

from gatecam.database.engine import Database
from gatecam.storage.base import ImageStore
from gatecam.web.pagecache import PageCache
from gatecam.web.thumbs import ThumbnailCache


@dataclass(frozen=True)
class Archive:
    """What every request reads: the database, the image bytes, and how to show time."""

    db: Database
    store: ImageStore
    zone: ZoneInfo
    interval: timedelta
    thumbs: ThumbnailCache
    pages: PageCache = field(default_factory=PageCache)
    cadence_minutes: int = 10


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, default=_json_default, sort_keys=True)
    return Response(body, status_code=status, media_type="application/json")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def wants_json(path: str) -> bool:
    return path.startswith("/api/") or path in ("/openapi.json", "/healthz")


def error_response(path: str, status: int, message: str) -> Response:
    """Every error in one shape: ``{"error": ...}`` for the API, one text line for pages."""
    if wants_json(path):
        return json_response({"error": message}, status)
    phrase = HTTPStatus(status).phrase
    return PlainTextResponse(f"{status} {phrase}: {message}\n", status_code=status)
