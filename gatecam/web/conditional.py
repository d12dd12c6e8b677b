"""Conditional GET for immutable bytes: ETag and Last-Modified, and 304 when the client has them."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

# An image row never changes its bytes (the CDN's are immutable too).
IMMUTABLE = "public, max-age=31536000, immutable"


def validators(etag: str, modified: datetime | None) -> dict[str, str]:
    """The headers that let a client ask again with If-None-Match / If-Modified-Since."""
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.replace(microsecond=0), usegmt=True)
    return headers


def not_modified(request: Request, etag: str, modified: datetime | None) -> Response | None:
    """A 304 when the client already holds these bytes, else None (send them).

    If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, 13.2.2).
    """
    headers = validators(etag, modified)
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in match.split(",")}
        return Response(status_code=304, headers=headers) if tags & {etag, "*"} else None
    since = request.headers.get("if-modified-since")
    if since is None or modified is None:
        return None
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return None  # an unreadable date is ignored, as the RFC asks
    if when.tzinfo is None or modified.replace(microsecond=0) > when:
        return None
    return Response(status_code=304, headers=headers)
