"""The faults the stand-in injects on request: failing CDN answers, broken pages and listings."""

from __future__ import annotations

import math
import socket
import struct
import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

from gatecam.model import ImageRef
from gatecam.sources.draydog.standin.hostile import HOSTILE_FAULTS
from gatecam.sources.draydog.standin.images import render_jpeg

if TYPE_CHECKING:
    from gatecam.sources.draydog.standin.server import SiteHandler

# What the CDN does instead of answering: an HTTP status (429 with ``Retry-After`` rounded
# up from retry_after); "timeout" holds the answer ``delay`` seconds; "reset" drops the
# connection; "html", "zero", "truncated", "no_eoi" and "wrong_type" send a bad 200 body.
# Hostile ones: "trickle" sends a valid JPEG (Content-Length set) one byte every ``delay``
# seconds; "stall" sends the headers at once, half the JPEG ``delay`` seconds later, then
# nothing for STALL_SECONDS; "retry_nan" is a 429 with ``Retry-After: nan``; "retry_garbage"
# is a 429 whose Retry-After cycles through 1e308, -5, inf and an HTTP date in the year 9999.
CDN_FAULTS = frozenset(
    {"500", "502", "503", "404", "429", "timeout", "reset", "html", "truncated", "zero"}
    | {"no_eoi", "wrong_type", "trickle", "stall", "retry_nan", "retry_garbage"}
)
# How long a "stall" holds the rest of its body: far longer than any client's deadline.
STALL_SECONDS = 30.0
# The Retry-After values "retry_garbage" sends, in turn.
GARBAGE_RETRY_AFTER = ("1e308", "-5", "inf", "Fri, 31 Dec 9999 23:59:59 GMT")
PAGE_FAULTS = frozenset({"page_500", "no_history", "foreign_url"})
# The listing API answers 200 with only the newer half of the day: plausible, and wrong.
# The hostile ones (gatecam.sources.draydog.standin.hostile) answer what discovery must refuse.
API_FAULTS = frozenset({"short_listing"}) | HOSTILE_FAULTS
FAULT_KINDS = CDN_FAULTS | PAGE_FAULTS | API_FAULTS


@dataclass
class Fault:
    kind: str
    match: str
    times: int | None
    retry_after: float
    delay: float
    # Where a hostile listing's ``next`` points (None: the kind's own default).
    target: str | None = None


class FaultQueue:
    """The faults waiting for their requests, taken in the order they were injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            known = ", ".join(sorted(FAULT_KINDS))
            raise ValueError(f"unknown fault kind {fault.kind!r}; known: {known}")
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be at least 1, or None for every request")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str, kinds: frozenset[str]) -> Fault | None:
        """The first fault of ``kinds`` matching ``path``, counted as used once."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.match in path:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None


def send_cdn_fault(
    handler: SiteHandler, fault: Fault, ref: ImageRef, thumbnail: bool, *, head: bool
) -> None:
    """Answer ``handler``'s CDN request with ``fault`` in place of the image."""
    kind = fault.kind
    if kind in ("404", "500", "502", "503"):
        handler.answer_status(HTTPStatus(int(kind)), head=head)
    elif kind == "429":
        retry = str(max(0, math.ceil(fault.retry_after)))
        handler.answer_status(HTTPStatus.TOO_MANY_REQUESTS, head=head, **{"Retry-After": retry})
    elif kind in ("retry_nan", "retry_garbage"):
        retry = "nan" if kind == "retry_nan" else handler.standin.garbage_retry_after()
        handler.answer_status(HTTPStatus.TOO_MANY_REQUESTS, head=head, **{"Retry-After": retry})
    elif kind == "reset":
        # Linger 0 makes close() send a TCP RST instead of an orderly FIN.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.rfile.close()  # the socket really closes only once its files are closed
        handler.connection.close()
    elif kind == "html":
        body = b"<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>"
        handler.answer(HTTPStatus.OK, body, "text/html; charset=utf-8", head=head)
    elif kind == "zero":
        handler.answer(HTTPStatus.OK, b"", "image/jpeg", head=head)
    else:
        faults = handler.standin.catalogue.camera_faults
        jpeg = render_jpeg(
            ref.terminal, ref.stream, ref.timestamp, thumbnail=thumbnail, faults=faults
        )
        if kind == "truncated":
            handler.send_response(HTTPStatus.OK)
            handler.send_header("Content-Type", "image/jpeg")
            handler.send_header("Content-Length", str(len(jpeg)))
            handler.end_headers()
            if not head:
                handler.wfile.write(jpeg[: len(jpeg) // 2])
            handler.close_connection = True
        elif kind == "trickle":
            _trickle(handler, jpeg, fault.delay, head=head)
        elif kind == "stall":
            _stall(handler, jpeg, fault.delay, head=head)
        elif kind == "no_eoi":
            handler.answer(HTTPStatus.OK, jpeg[:-2], "image/jpeg", head=head)
        else:  # wrong_type
            handler.answer(HTTPStatus.OK, jpeg, "text/plain", head=head)


def _trickle(handler: SiteHandler, jpeg: bytes, delay: float, *, head: bool) -> None:
    handler.send_response(HTTPStatus.OK)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Content-Length", str(len(jpeg)))
    handler.end_headers()
    if head:
        return
    # The connection is useless once the body stops short of its length.
    handler.close_connection = True
    for n in range(len(jpeg)):
        handler.wfile.write(jpeg[n : n + 1])
        if handler.standin.stopping.wait(delay):
            return


def _stall(handler: SiteHandler, jpeg: bytes, delay: float, *, head: bool) -> None:
    handler.send_response(HTTPStatus.OK)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Content-Length", str(len(jpeg)))
    handler.end_headers()
    handler.close_connection = True
    if head or handler.standin.stopping.wait(delay):
        return
    # Data late in the request, then silence: a read timeout set when the request began
    # counts from this write, not from the start.
    handler.wfile.write(jpeg[: len(jpeg) // 2])
    handler.standin.stopping.wait(STALL_SECONDS)
