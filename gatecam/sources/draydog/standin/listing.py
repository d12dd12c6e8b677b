"""The stand-in's listing API: one camera's day, paged, as ``/api/history`` answers it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from gatecam.model import ImageRef, is_name
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin.variants import CURSOR_SIZE

if TYPE_CHECKING:
    from gatecam.sources.draydog.standin.server import StandIn


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def listing(
    standin: StandIn, query: dict[str, list[str]], *, paged_by_cursor: bool
) -> tuple[HTTPStatus, dict[str, Any]]:
    """The listing of one camera and day (page), as the API answers it."""
    terminal, stream = param(query, "terminal"), param(query, "stream")
    if not (is_name(terminal) and is_name(stream)):
        return _bad("terminal and stream must be names of a-z, 0-9, _ and -")
    catalogue, source = standin.catalogue, standin.source
    today = standin.site_today()
    day = parse_day(param(query, "date"), today)
    page, size = _int(param(query, "page"), 1), _int(param(query, "size"), 0)
    cursor = param(query, "cursor")
    offset = _int(cursor[1:], 0) if cursor.startswith("c") else (-1 if cursor else 0)
    if day is None or page < 1 or size < 0 or offset < 0:
        return _bad("date must be YYYY-MM-DD, page and size positive numbers")
    utc_today = catalogue.today()
    latest = (
        catalogue.list(terminal, stream, utc_today)[:1]
        or catalogue.list(terminal, stream, utc_today - timedelta(days=1))[:1]
    )
    stamps = standin.site_day(terminal, stream, day)
    total = len(stamps)
    if size:
        stamps = stamps[(page - 1) * size : page * size]
    more = False
    if paged_by_cursor:
        more = len(stamps) > offset + CURSOR_SIZE
        stamps = stamps[offset : offset + CURSOR_SIZE]
    images = [ImageRef(terminal, stream, ts) for ts in stamps]
    data: dict[str, Any] = {
        "date": day.isoformat(),
        "today": today.isoformat(),
        "total": total,
        "page": page,
        "latest": source.image_url(ImageRef(terminal, stream, latest[0])) if latest else None,
        "images": [
            {
                "timestamp": iso(ref.timestamp),
                "full": source.image_url(ref),
                "thumbnail": source.image_url(ref, thumbnail=True),
            }
            for ref in images
        ],
    }
    if paged_by_cursor:
        after = {k: v[0] for k, v in query.items()} | {"cursor": f"c{offset + CURSOR_SIZE}"}
        data["next"] = f"/api/history?{urlencode(after)}" if more else None
    if param(query, "mode") == "foreign_url":
        data["extra"] = _foreign_urls(source, terminal, stream, day, images)
    return HTTPStatus.OK, data


def _bad(message: str) -> tuple[HTTPStatus, dict[str, Any]]:
    return HTTPStatus.BAD_REQUEST, {"error": message}


def param(query: dict[str, list[str]], name: str) -> str:
    return query.get(name, [""])[0]


def _int(text: str, default: int) -> int:
    return int(text) if text.isdigit() else (default if not text else -1)


def parse_day(text: str, default: date) -> date | None:
    if not text:
        return default
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _foreign_urls(
    source: DrayDogSource, terminal: str, stream: str, day: date, images: list[ImageRef]
) -> list[str]:
    """Two addresses discovery must refuse: one off the CDN, one on it that does not parse."""
    ts = images[0].timestamp if images else datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    foreign = f"http://evil.invalid/{terminal}/{ts:%Y-%m-%d}/{ts.hour}/{ts:%Y-%m-%dT%H:%M:%S}"
    bad = f"{source.cdn_url}/{terminal}/{ts:%Y-%m-%d}/{ts.hour}/{ts.year}-13-45T99:00:00"
    return [f"{foreign}-{stream}.jpeg", f"{bad}-{stream}-thumbnail.jpeg"]
