"""The JSON API: statistics, pages of image rows, one image's row, and coverage."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gatecam import days as local_days
from gatecam.database import browse
from gatecam.days import local_time
from gatecam.errors import InputError
from gatecam.health import coverage
from gatecam.model import NAME_RULE, is_name
from gatecam.web import imageurls
from gatecam.web.common import Archive, json_response, json_text, json_text_response

MAX_LIMIT = 1000
# The length of the terminal and stream columns, as /openapi.json says.
# A coverage report reads every capture time in its range: keep one request bounded.
MAX_COVERAGE_DAYS = 92
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR = re.compile(r"(\d{1,17})\.(\d{1,19})")


def image_json(row: Any) -> dict[str, Any]:
    """An image row as the API shows it (an ORM object or a plain row with its columns)."""
    return {
        "id": row.id,
        "terminal": row.terminal,
        "stream": row.camera_id,
        "timestamp": row.timestamp,
        "file_size": row.file_size,
        "sha256": row.sha256,
        "thumbnail": row.thumbnail,
        "created_at": row.created_at,
        "missing": row.missing_since is not None,
        "url": imageurls.image_url(row.id, row.sha256),
        "thumb_url": imageurls.image_url(row.id, row.sha256, thumb=True),
    }


def encode_cursor(timestamp: datetime, image_id: int) -> str:
    """The page key after (timestamp, id), as microseconds since 1970 and the id."""
    return f"{(timestamp - _EPOCH) // _MICROSECOND}.{image_id}"


def decode_cursor(text: str) -> tuple[datetime, int]:
    match = _CURSOR.fullmatch(text)
    if match is None or int(match[2]) > browse.MAX_ID:
        raise InputError(f"cursor {text!r} is not one this API gave out")
    moment = _EPOCH + int(match[1]) * _MICROSECOND
    if moment.year not in local_days.YEARS:
        raise InputError(f"cursor {text!r} is not one this API gave out")
    return moment, int(match[2])


def parse_query_time(name: str, text: str, where: tzinfo) -> datetime:
    """An ISO 8601 date-time or a date (its midnight), local in ``where`` without an offset.

    ``/at?time=`` reads a time without an offset the same way: one moment for both.
    """
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            moment = datetime.fromisoformat(text)
        moment = local_time(moment, where)
    except ValueError:
        raise InputError(f"{name} {text!r} is not an ISO 8601 date or date-time") from None
    # A well-formed time can still be outside what the API serves (and what the spec allows).
    first, last = local_days.YEARS.start, local_days.YEARS.stop - 1
    years = f"{name} {text!r} is out of range: years {first} to {last} only"
    if moment.year not in local_days.YEARS:
        raise InputError(years)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past datetime's last year in UTC
        raise InputError(years) from None


def _name(request: Request, key: str) -> str | None:
    value = request.query_params.get(key)
    if value is None:
        return None
    if not is_name(value):
        raise InputError(f"{key} must be a name of {NAME_RULE}")
    return value


def _int(request: Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,9}", text) or not low <= int(text) <= high:
        raise InputError(f"{key} must be a whole number from {low} to {high}")
    return int(text)


def stats(archive: Archive, request: Request) -> Response:
    """Drawn once per state of the stream counters and second: every dashboard polls it, and
    the counters are one short read where the statistics are a few per terminal. The second
    keeps the last-hour and last-day windows exact as they slide."""

    def draw() -> str:
        with archive.db.read_scope() as session:
            return json_text(browse.stats_by_terminal(session))

    version = (int(time.time()), browse.fingerprint(archive.db))
    return json_text_response(archive.answers.get("api-stats", version, draw))


def images(archive: Archive, request: Request) -> Response:
    q = request.query_params
    limit = _int(request, "limit", 100, 1, MAX_LIMIT)
    start = parse_query_time("from", q["from"], archive.zone) if "from" in q else None
    end = parse_query_time("to", q["to"], archive.zone) if "to" in q else None
    if start is not None and end is not None and start > end:
        raise InputError(f"from {q['from']} is after to {q['to']}")
    # An empty cursor is the first page, as if none was given.
    after = decode_cursor(q["cursor"]) if q.get("cursor") else None
    terminal, stream = _name(request, "terminal"), _name(request, "stream")

    def draw() -> str:
        query = browse.image_page_query(
            terminal=terminal,
            stream=stream,
            start=start,
            end=end,
            after=after,
            limit=limit + 1,  # one more tells whether another page follows
        )
        rows = archive.db.read_rows(query)
        page = rows[:limit]
        last = page[-1] if len(rows) > limit else None
        cursor = encode_cursor(last.timestamp, last.id) if last and last.timestamp else None
        return json_text({"items": [image_json(r) for r in page], "next_cursor": cursor})

    # Drawn once per state of the archive: dashboards poll the same newest page, and the
    # page's read, rows and JSON cost ten times the state's one-row read. The key is the
    # parsed parameters, never the raw query string.
    key = ("api-images", terminal, stream, start, end, after, limit)
    return json_text_response(archive.image_pages.get(key, browse.fingerprint(archive.db), draw))


def one_image(archive: Archive, request: Request) -> Response:
    with archive.db.read_scope() as session:
        row = browse.image(session, request.path_params["id"])
    if row is None:
        raise HTTPException(404, "no such image")
    return json_response(image_json(row))


def coverage_json(archive: Archive, request: Request) -> Response:
    q = request.query_params
    today = local_days.today(archive.zone)
    start, end = _day(q, "from"), _day(q, "to")
    if end is None:
        # Today, or the day asked for when that is later: a future day alone is valid.
        end = today if start is None else max(today, start)
    if start is None:
        start = max(end - timedelta(days=6), date(local_days.YEARS.start, 1, 1))
    if start > end:
        raise InputError(f"from {start} is after to {end}")
    if (end - start).days >= MAX_COVERAGE_DAYS:
        raise InputError(f"at most {MAX_COVERAGE_DAYS} days per request")
    cadence = _int(request, "cadence", archive.cadence_minutes, 1, 1440)
    report = coverage.coverage_report(
        archive.db,
        start,
        end,
        terminal=_name(request, "terminal"),
        cadence_minutes=cadence,
        zone=archive.zone,
    )
    return json_response(report.as_dict())


def _day(params: Mapping[str, str], key: str) -> date | None:
    """A date parameter, checked before any arithmetic (0001-01-01 minus a day overflows)."""
    if key not in params:
        return None
    try:
        day = date.fromisoformat(params[key])
    except ValueError:
        raise InputError("from and to must be dates like 2025-09-02") from None
    if day.year not in local_days.YEARS:
        raise InputError("from and to must be dates between 1970 and 2999")
    return day


ROUTES: list[tuple[str, Callable[[Archive, Request], Response]]] = [
    ("/api/stats", stats),
    ("/api/images", images),
    ("/api/images/{id:int}", one_image),
    ("/api/coverage", coverage_json),
]
