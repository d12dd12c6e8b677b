"""The OpenAPI 3.1 description of the API, images, health and metrics (at /openapi.json)."""

from __future__ import annotations

from typing import Any

from gatecam.days import DEFAULT_TIMEZONE
from gatecam.model import NAME_MAX, NAME_PATTERN

# The zone is the server's setting; the document names where it comes from.
_ZONE = f"GATECAM_TIMEZONE, default {DEFAULT_TIMEZONE}"
NAME = {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$", "maxLength": NAME_MAX}
# Years 1970-2999, months 01-12, days 01-31, hours 00-23, minutes and seconds 00-59.
_YMD = r"(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_HMS = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
MOMENT = {
    "type": "string",
    "pattern": rf"^{_YMD}([T ]{_HMS}(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?$",
    "description": "ISO 8601 date-time or a date (its midnight); without an offset it is local "
    f"time in the server's zone ({_ZONE}), as /at?time= reads it",
    "examples": ["2025-09-02T14:30:00-07:00", "2025-09-02"],
}
_TIME = {"type": "string", "format": "date-time"}
_DATE = {"type": "string", "format": "date", "pattern": rf"^{_YMD}$"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json("bad input: one line saying which", _ref("Error"))
_NOT_FOUND = _json("no such image", _ref("Error"))
_UNAUTHORIZED = _json("a token is set and the request did not carry it", _ref("Error"))
_UNAVAILABLE = _json("the database did not answer", _ref("Error"))
_JPEG = {"description": "JPEG bytes", "content": {"image/jpeg": {"schema": {}}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_COMMON = {"401": _UNAUTHORIZED, "503": _UNAVAILABLE}
# An id may name another image after a database restore; the hash in the URL does not.
_VERSION = {
    "name": "v",
    "in": "query",
    "required": False,
    "description": "the first 16 hex digits of the image's sha256, as in the url and thumb_url "
    "the API gives",
    "schema": {"type": "string"},
}
_IMAGE_CACHING = (
    "Cached for good (immutable) only when v matches the image's sha256; otherwise answered "
    "with Cache-Control: no-cache and an ETag, and 304 to a matching If-None-Match."
)
_NOT_MODIFIED = {"description": "the client's copy (If-None-Match) is still these bytes"}

_IMAGE = {
    "type": "object",
    "required": ["id", "terminal", "stream", "timestamp", "url", "thumb_url", "missing"],
    "properties": {
        "id": {"type": "integer"},
        "terminal": NAME,
        "stream": NAME,
        "timestamp": _TIME,
        "file_size": {"type": ["integer", "null"]},
        "sha256": {"type": ["string", "null"]},
        "thumbnail": {
            "type": "boolean",
            "description": "only the CDN's thumbnail could be archived, not the full image",
        },
        "created_at": _TIME,
        "missing": {"type": "boolean", "description": "gatecam verify found the file gone"},
        "url": {"type": "string", "description": "/image/{id}, with ?v= when the sha256 is known"},
        "thumb_url": {"type": "string"},
    },
}
# An image the site listed and the archive never stored, with the last reason it failed.
_MISSED = {
    "type": "object",
    "required": ["timestamp", "url", "reason", "attempts"],
    "properties": {
        "timestamp": _TIME,
        "url": {"type": "string"},
        "reason": {"type": "string"},
        "attempts": {"type": "integer", "minimum": 1},
        "first_attempt": _TIME,
        "last_attempt": _TIME,
        "unlisted": {"type": "boolean", "description": "the site no longer lists it"},
    },
}
_MISSED_COUNT = {
    "type": "integer",
    "minimum": 0,
    "description": "images the site listed that were not stored (not a gap: it published them)",
}
_SLOT = {
    "type": "object",
    "required": ["held", "expected", "completeness"],
    "properties": {
        "start": _TIME,
        "date": {"type": "string", "format": "date"},
        "held": {"type": "integer", "minimum": 0},
        "expected": {"type": "number", "minimum": 0},
        "completeness": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        # Days carry these; hours do not.
        "missed": _MISSED_COUNT,
        "missed_images": {"type": "array", "items": _MISSED},
    },
}
_STATS = {
    "type": "object",
    "required": ["total_downloaded", "downloads_by_stream", "last_hour", "last_24h"],
    "properties": {
        "total_downloaded": {"type": "integer"},
        "downloads_by_stream": {"type": "object", "additionalProperties": {"type": "integer"}},
        "last_hour": {"type": "integer"},
        "last_24h": {"type": "integer"},
        "last_download": _NULL_TIME,
        "total_runs": {"type": "integer"},
        "successful_runs": {"type": "integer"},
        "partial_runs": {"type": "integer"},
        "failed_runs": {"type": "integer"},
        "failed_downloads": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "gatecam archive",
        "version": "1",
        "description": "Read-only access to the archived gate-camera images. When the server "
        "has a token, every path but /healthz needs `Authorization: Bearer <token>` "
        "or `?token=<token>`.",
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "Image": _IMAGE,
            "Stats": _STATS,
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "paths": {
        "/api/stats": {
            "get": {
                "summary": "The statistics of `gatecam stats --json`, per terminal",
                "responses": {
                    "200": _json(
                        "statistics by terminal",
                        {"type": "object", "additionalProperties": _ref("Stats")},
                    ),
                    **_COMMON,
                },
            }
        },
        "/api/images": {
            "get": {
                "summary": "Archived images in capture-time order, a page at a time",
                "parameters": [
                    _query("terminal", NAME, "only this terminal"),
                    _query("stream", NAME, "only this stream"),
                    _query("from", MOMENT, "captured at or after"),
                    _query("to", MOMENT, "captured before"),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        "images per page",
                    ),
                    _query(
                        "cursor",
                        {"type": "string"},
                        "next_cursor of the previous page (empty or absent: the first page)",
                    ),
                ],
                "responses": {
                    "200": _json(
                        "one page; next_cursor is null on the last",
                        {
                            "type": "object",
                            "required": ["items", "next_cursor"],
                            "properties": {
                                "items": {"type": "array", "items": _ref("Image")},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                    ),
                    "400": _ERROR,
                    **_COMMON,
                },
            }
        },
        "/api/images/{id}": {
            "get": {
                "summary": "One image's metadata",
                "parameters": [_ID],
                "responses": {
                    "200": _json("the image", _ref("Image")),
                    "404": _NOT_FOUND,
                    **_COMMON,
                },
            }
        },
        "/image/{id}": {
            "get": {
                "summary": "The archived JPEG, byte for byte",
                "description": _IMAGE_CACHING,
                "parameters": [_ID, _VERSION],
                "responses": {"200": _JPEG, "304": _NOT_MODIFIED, "404": _NOT_FOUND, **_COMMON},
            }
        },
        "/image/{id}/thumb": {
            "get": {
                "summary": "A small JPEG of the image, at most 320x180",
                "description": _IMAGE_CACHING,
                "parameters": [_ID, _VERSION],
                "responses": {"200": _JPEG, "304": _NOT_MODIFIED, "404": _NOT_FOUND, **_COMMON},
            }
        },
        "/api/coverage": {
            "get": {
                "summary": "Per stream and hour: images held against the cadence, and gaps",
                "description": f"Days run midnight to midnight in the server's zone ({_ZONE}), "
                "as on the web page and in exports.",
                "parameters": [
                    _query("from", _DATE, "first day (default: 6 days before to)"),
                    _query(
                        "to",
                        _DATE,
                        "last day (default: today, or from if later; at most 92 days)",
                    ),
                    _query("terminal", NAME, "only this terminal"),
                    _query(
                        "cadence",
                        {"type": "integer", "minimum": 1, "maximum": 1440, "default": 10},
                        "minutes between images the site promises",
                    ),
                ],
                "responses": {
                    "200": _json(
                        "the coverage report (same as gatecam coverage --json)",
                        {
                            "type": "object",
                            "required": ["from", "to", "days_in", "streams"],
                            "properties": {
                                "from": {"type": "string", "format": "date"},
                                "to": {"type": "string", "format": "date"},
                                "days_in": {
                                    "type": "string",
                                    "description": "IANA zone of the days",
                                    "examples": [DEFAULT_TIMEZONE],
                                },
                                "cadence_minutes": {"type": "integer"},
                                "gap_minutes": {"type": "integer"},
                                "streams": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["terminal", "stream", "gaps", "hours"],
                                        "properties": {
                                            "completeness": {"type": ["number", "null"]},
                                            "gaps": {"type": "array"},
                                            "missed": _MISSED_COUNT,
                                            "missed_images": {
                                                "type": "array",
                                                "items": _MISSED,
                                            },
                                            "days": {"type": "array", "items": _SLOT},
                                            "hours": {"type": "array", "items": _SLOT},
                                        },
                                    },
                                },
                            },
                        },
                    ),
                    "400": _ERROR,
                    **_COMMON,
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "200 when the database answers and every judged stream is ok; "
                "else 503. A stream is ok, silent (no new image for longer than the silent "
                "limit), failing (listed images not stored), frozen, or stale (no run ended "
                "well for three intervals). Without the token each stream gives its state "
                "only; with it, since when and why",
                "security": [],
                "responses": {
                    "200": _json("healthy", _ref("Health")),
                    "503": _json("unhealthy", _ref("Health")),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics in the text exposition format",
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {"schema": {}}}},
                    "401": _UNAUTHORIZED,
                },
            }
        },
    },
    "security": [{"bearer": []}],
}

SPEC["components"]["schemas"]["Health"] = {
    "type": "object",
    "required": ["status", "database", "streams", "reason"],
    "properties": {
        "status": {"enum": ["ok", "unhealthy"]},
        "database": {"type": "string"},
        "reason": {"type": ["string", "null"]},
        "version": {"type": "string", "description": "the gatecam version answering"},
        "streams": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["terminal", "stream", "state"],
                "properties": {
                    "terminal": NAME,
                    "stream": NAME,
                    "state": {"enum": ["ok", "silent", "failing", "frozen", "stale"]},
                    "since": _NULL_TIME,
                    "reason": {"type": ["string", "null"]},
                },
            },
        },
    },
}
