"""The stand-in's control API, for tests driving a `gatecam simulate` in another process."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING

from gatecam.model import is_name
from gatecam.sources.draydog.standin.listing import iso, param, parse_day

if TYPE_CHECKING:
    from gatecam.sources.draydog.standin.server import SiteHandler


def control_images(
    handler: SiteHandler, method: str, query: dict[str, list[str]], body: bytes
) -> None:
    """List a day's images (GET), or add one (POST JSON {terminal, stream, timestamp})."""
    catalogue = handler.standin.catalogue
    if method == "GET":
        terminal, stream = param(query, "terminal"), param(query, "stream")
        day = parse_day(param(query, "date"), catalogue.today())
        if not (is_name(terminal) and is_name(stream)):
            handler.answer_bad_request("terminal and stream must be names of a-z, 0-9, _ and -")
        elif day is None:
            handler.answer_bad_request("date must be YYYY-MM-DD")
        else:
            found = catalogue.list(terminal, stream, day)
            handler.answer_json(HTTPStatus.OK, {"timestamps": [iso(ts) for ts in found]})
        return
    try:
        data = json.loads(body)
        ts = datetime.fromisoformat(data["timestamp"])
        # A timestamp without a zone is taken as UTC, the site's only zone.
        ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
        catalogue.add(data["terminal"], data["stream"], ts)
    except Exception as exc:  # any malformed request body is the caller's error
        handler.answer_bad_request(f"expected JSON {{terminal, stream, timestamp}}: {exc}")
        return
    handler.answer_json(HTTPStatus.CREATED, {"timestamp": iso(ts.replace(microsecond=0))})


def control_faults(handler: SiteHandler, method: str, body: bytes) -> None:
    """Inject a fault (POST JSON {kind, match, times, ...}), or clear them all (DELETE)."""
    if method == "DELETE":
        handler.standin.clear_faults()
        handler.answer(HTTPStatus.NO_CONTENT, b"", "text/plain")
        return
    try:
        data = json.loads(body)
        handler.standin.inject(
            data["kind"],
            match=str(data.get("match", "")),
            times=data.get("times", 1),
            retry_after=float(data.get("retry_after", 1.0)),
            delay=float(data.get("delay", 5.0)),
            target=None if data.get("target") is None else str(data["target"]),
        )
    except Exception as exc:  # any malformed request body is the caller's error
        handler.answer_bad_request(
            f"expected JSON {{kind, match, times, retry_after, delay, target}}: {exc}"
        )
        return
    handler.answer_json(HTTPStatus.CREATED, {"kind": data["kind"]})
