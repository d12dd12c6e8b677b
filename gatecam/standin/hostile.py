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
from typing import Any

HOSTILE_FAULTS = frozenset({"offsite_next", "nested_json", "huge_answer", "bad_next"})
OFFSITE_TARGET = "http://127.0.0.1:9/steal"
BAD_NEXT = "http://[::1"
NESTED_DEPTH = 200_000
HUGE_BYTES = 56_000_000
_CHUNK = 1 << 16


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
