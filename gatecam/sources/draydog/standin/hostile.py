"""Hostile answers of the stand-in's listing API: what discovery must refuse, not trust.

Each is a fault kind of ``StandIn.inject`` (and of ``POST /_standin/faults``) that answers
``/api/history`` in place of its listing:

- ``offsite_next``: the listing, with ``next`` pointing off the site's origin, at the fault's
  ``target`` (default ``http://127.0.0.1:9/steal``). Following it would send the learned
  headers (a session token, say) to another host.
- ``nested_json``: about 400 KB of ``[[[...]]]``, valid JSON nested deeper than any
  recursive parser goes.
- ``huge_answer``: a valid listing of about 56 MB (a long ``padding`` field), streamed in
  chunks with no declared length, so only counting tells, and the stand-in never holds it
  in memory: far past what any day's listing needs.
- ``bad_next``: the listing, with a ``next`` link that does not even parse: the fault's
  ``target``, by default ``http://[::1`` (an unclosed IPv6 host); ``http://xn--/x`` (a host
  no IDNA codec encodes) is another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

HOSTILE_FAULTS = frozenset({"offsite_next", "nested_json", "huge_answer", "bad_next"})
OFFSITE_TARGET = "http://127.0.0.1:9/steal"
BAD_NEXT = "http://[::1"
NESTED_DEPTH = 200_000
HUGE_BYTES = 56_000_000
_CHUNK = 1 << 16


def send_hostile(
    handler: BaseHTTPRequestHandler, kind: str, listing: dict[str, Any], target: str | None
) -> None:
    """Answer ``handler``'s request with fault ``kind``, chunked when its length is undeclared."""
    length, chunks = hostile_answer(kind, listing, target)
    handler.send_response(HTTPStatus.OK)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Cache-Control", "no-store")
    if length is None:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.send_header("Content-Length", str(length))
    handler.end_headers()
    for chunk in chunks:
        handler.wfile.write(chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
    if length is None:
        handler.wfile.write(b"0\r\n\r\n")


def hostile_answer(
    kind: str, listing: dict[str, Any], target: str | None
) -> tuple[int | None, Iterator[bytes]]:
    """The body of fault ``kind`` over ``listing``: its length (None: undeclared), in chunks."""
    if kind == "nested_json":
        body = b"[" * NESTED_DEPTH + b"]" * NESTED_DEPTH
        return len(body), iter([body])
    if kind == "huge_answer":
        return None, _padded(listing, HUGE_BYTES)
    default = OFFSITE_TARGET if kind == "offsite_next" else BAD_NEXT
    body = json.dumps({**listing, "next": target or default}).encode()
    return len(body), iter([body])


def _padded(listing: dict[str, Any], size: int) -> Iterator[bytes]:
    head = json.dumps(listing).encode()[:-1] + b', "padding": "'
    tail = b'"}'
    padding = size - len(head) - len(tail)
    yield head
    block = b"x" * _CHUNK
    for _ in range(padding // _CHUNK):
        yield block
    yield b"x" * (padding % _CHUNK) + tail
