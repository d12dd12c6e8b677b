"""The stand-in site over HTTP: camera page, its listing API, the CDN, faults and a control API."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from gatecam.model import ImageRef, is_name
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin.catalogue import Catalogue
from gatecam.sources.draydog.standin.control import control_faults, control_images
from gatecam.sources.draydog.standin.faults import (
    API_FAULTS,
    CDN_FAULTS,
    FAULT_KINDS,
    GARBAGE_RETRY_AFTER,
    PAGE_FAULTS,
    Fault,
    FaultQueue,
    send_cdn_fault,
)
from gatecam.sources.draydog.standin.hostile import HOSTILE_FAULTS, send_hostile
from gatecam.sources.draydog.standin.httpserver import LocalHandler, LocalServer
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.sources.draydog.standin.listing import listing, param
from gatecam.sources.draydog.standin.variants import (
    LONG_POLL_SECONDS,
    PACIFIC,
    PAGE_SIZE,
    TOKEN_HEADER,
    VARIANTS,
    parse_variants,
)

__all__ = ["FAULT_KINDS", "VARIANTS", "SiteHandler", "StandIn"]

log = logging.getLogger(__name__)

_PAGE_PATH = re.compile(r"/terminal_cameras/(?P<terminal>[^/]+)")
# How soon stop() is noticed: every test stops a stand-in, so the default 0.5 s adds up.
_POLL_SECONDS = 0.02
_IMMUTABLE = "public, max-age=31536000, immutable"
# What a fault that needs JPEG bytes sends when the path names no image.
_PLACEHOLDER = ImageRef("standin", "fault", datetime(2000, 1, 1, tzinfo=UTC))


@cache
def _page_template() -> str:
    return (
        resources.files("gatecam.sources.draydog.standin")
        .joinpath("page.html")
        .read_text(encoding="utf-8")
    )


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


class StandIn(LocalServer):
    """The local Dray Dog site: serves the camera page, its API and the CDN from one port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        catalogue: Catalogue | None = None,
        variants: Iterable[str] = (),
        token_ttl: float = 300.0,
        api_latency: float = 0.0,
    ) -> None:
        self.latency = latency
        # Seconds before each listing API answer, and the most answers ever in flight at once.
        self.api_latency = api_latency
        self._api_in_flight = 0
        self.api_peak = 0
        # Seconds a "token" variant session token stays valid after it was issued.
        self.token_ttl = token_ttl
        self._tokens: dict[str, float] = {}
        self._api_requests = 0
        self.variants = parse_variants(variants)
        self._catalogue = catalogue if catalogue is not None else Catalogue()
        self._lock = threading.Lock()
        self.faults = FaultQueue()
        self._cdn_requests = 0
        self._thumbnail_requests = 0
        self._cdn_bytes = 0
        self._garbage = itertools.cycle(GARBAGE_RETRY_AFTER)
        self.stopping = threading.Event()
        super().__init__(host, port, SiteHandler)
        self.source = DrayDogSource(app_url=self.app_url, cdn_url=self.cdn_url)

    @property
    def app_url(self) -> str:
        return self.url

    @property
    def cdn_url(self) -> str:
        return self.url + "/cdn"

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue

    @property
    def cdn_requests(self) -> int:
        """How many CDN image requests arrived, whatever they were answered."""
        with self._lock:
            return self._cdn_requests

    @property
    def api_requests(self) -> int:
        """How many listing API requests (/api/history) arrived, from browsers or not."""
        with self._lock:
            return self._api_requests

    def issue_token(self) -> str:
        """A new session token for the "token" variant, valid for ``token_ttl`` seconds."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return token

    def token_valid(self, token: str) -> bool:
        with self._lock:
            return self._tokens.get(token, 0.0) > time.monotonic()

    def expire_tokens(self) -> None:
        """Every token issued so far stops working at once, as when sessions time out."""
        with self._lock:
            self._tokens.clear()

    def set_variants(self, names: Iterable[str]) -> None:
        """Switch variants from the next page load on (tests share one site and browser)."""
        self.variants = parse_variants(names)

    @property
    def thumbnail_requests(self) -> int:
        """How many of those CDN requests asked for a thumbnail."""
        with self._lock:
            return self._thumbnail_requests

    @property
    def cdn_bytes(self) -> int:
        """Image bytes the CDN sent in full answers."""
        with self._lock:
            return self._cdn_bytes

    def site_today(self) -> date:
        """The day the camera page opens on: UTC, or Pacific with the "pacific" variant."""
        now = self._catalogue.now()
        return now.astimezone(PACIFIC).date() if "pacific" in self.variants else now.date()

    def site_day(self, terminal: str, stream: str, day: date) -> list[datetime]:
        """The timestamps the page lists for its ``day``, newest first."""
        catalogue = self._catalogue
        if "pacific" not in self.variants:
            return catalogue.list(terminal, stream, day)
        # A Pacific day spans two UTC days.
        found = catalogue.list(terminal, stream, day + timedelta(days=1))
        found += catalogue.list(terminal, stream, day)
        return [ts for ts in found if ts.astimezone(PACIFIC).date() == day]

    def stop(self) -> None:
        """Stop serving and close the port; sleeping answers (latency, timeouts) wake up."""
        self.stopping.set()
        super().stop()

    def inject(
        self,
        kind: str,
        *,
        match: str = "",
        times: int | None = 1,
        retry_after: float = 1.0,
        delay: float = 5.0,
        target: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with fault ``kind``.

        ``target`` is the link ``offsite_next`` and ``bad_next`` put in the listing's ``next``.
        """
        self.faults.add(Fault(kind, match, times, retry_after, delay, target))

    def clear_faults(self) -> None:
        self.faults.clear()

    def garbage_retry_after(self) -> str:
        with self._lock:
            return next(self._garbage)

    def _count_cdn_request(self, *, thumbnail: bool) -> None:
        with self._lock:
            self._cdn_requests += 1
            self._thumbnail_requests += thumbnail

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)


class SiteHandler(LocalHandler):
    server_version = "gatecam-standin"

    @property
    def standin(self) -> StandIn:
        return cast(StandIn, self.server.owner)

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm holds the
        # body back until the client's delayed ACK, 40 ms per kept-alive request on Linux.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        reading = method in ("GET", "HEAD")
        if path.startswith("/cdn/") and reading:
            self._cdn(path, head=method == "HEAD")
        elif (page := _PAGE_PATH.fullmatch(path)) and reading:
            self._page(page["terminal"], param(query, "streamName"), head=method == "HEAD")
        elif path == "/favicon.ico" and reading:
            # Answered so a browser's console stays free of 404 noise.
            self.answer(HTTPStatus.NO_CONTENT, b"", "image/x-icon", head=method == "HEAD")
        elif path == "/api/history" and method == "GET":
            self._history(query)
        elif path == "/api/session" and method == "GET":
            token = self.standin.issue_token()
            self.answer_json(HTTPStatus.OK, {"token": token, "expires_in": self.standin.token_ttl})
        elif path == "/api/live" and method == "GET":
            self._live()
        elif path == "/_standin/images" and method in ("GET", "POST"):
            control_images(self, method, query, body)
        elif path == "/_standin/requests" and method == "GET":
            counts = {
                "cdn_requests": self.standin.cdn_requests,
                "thumbnail_requests": self.standin.thumbnail_requests,
            }
            self.answer_json(HTTPStatus.OK, counts)
        elif path == "/_standin/faults" and method in ("POST", "DELETE"):
            control_faults(self, method, body)
        else:
            self.answer_status(HTTPStatus.NOT_FOUND, head=method == "HEAD")

    def _read_body(self) -> bytes:
        # Always drain the body so the next request on a kept-alive connection parses.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # --- answers -------------------------------------------------------------------------

    def answer(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def answer_status(self, status: HTTPStatus, *, head: bool = False, **headers: str) -> None:
        text = f"{status.value} {status.phrase}"
        body = f"<!DOCTYPE html><html><head><title>{text}</title></head><body><h1>{text}</h1>"
        body += "</body></html>"
        self.answer(status, body.encode(), "text/html; charset=utf-8", headers, head=head)

    def answer_json(self, status: HTTPStatus, data: Any) -> None:
        body = json.dumps(data).encode()
        self.answer(status, body, "application/json", {"Cache-Control": "no-store"})

    def answer_bad_request(self, message: str) -> None:
        self.answer_json(HTTPStatus.BAD_REQUEST, {"error": message})

    # --- the site ------------------------------------------------------------------------

    def _page(self, terminal: str, stream: str, *, head: bool) -> None:
        if not (is_name(terminal) and is_name(stream)):
            self.answer_status(HTTPStatus.NOT_FOUND, head=head)
            return
        fault = self.standin.faults.take(self.path, PAGE_FAULTS)
        if fault is not None and fault.kind == "page_500":
            self.answer_status(HTTPStatus.INTERNAL_SERVER_ERROR, head=head)
            return
        mode = fault.kind if fault is not None else "normal"
        variants = ",".join(sorted(self.standin.variants))
        page = _page_template().replace("__STANDIN_MODE__", mode)
        page = page.replace("__STANDIN_VARIANTS__", variants)
        embedded = "null"
        if "embedded" in self.standin.variants:
            # Rendered server-side: the listing rides in the HTML, "<" escaped for <script>.
            query = parse_qs(urlsplit(self.path).query)
            query.update(terminal=[terminal], stream=[stream], mode=[mode])
            if {"paged", "loadmore"} & self.standin.variants and "size" not in query:
                query.update(page=["1"], size=[str(PAGE_SIZE)])
            status, data = listing(self.standin, query, paged_by_cursor=False)
            embedded = json.dumps(data if status == HTTPStatus.OK else None).replace("<", "\\u003c")
        body = page.replace("__STANDIN_DATA__", embedded).encode()
        headers = {"Cache-Control": "no-store"}
        self.answer(HTTPStatus.OK, body, "text/html; charset=utf-8", headers, head=head)

    def _history(self, query: dict[str, list[str]]) -> None:
        standin = self.standin
        with standin._lock:
            standin._api_requests += 1
            standin._api_in_flight += 1
            standin.api_peak = max(standin.api_peak, standin._api_in_flight)
        try:
            standin._sleep(standin.api_latency)
            self._answer_history(query)
        finally:
            with standin._lock:
                standin._api_in_flight -= 1

    def _answer_history(self, query: dict[str, list[str]]) -> None:
        standin = self.standin
        token = self.headers.get(TOKEN_HEADER, "")
        if "token" in standin.variants and not standin.token_valid(token):
            self.answer_json(HTTPStatus.UNAUTHORIZED, {"error": "session token missing or expired"})
            return
        status, data = listing(self.standin, query, paged_by_cursor="cursor" in standin.variants)
        fault = standin.faults.take(self.path, API_FAULTS)
        if fault is not None and fault.kind in HOSTILE_FAULTS:
            send_hostile(self, fault.kind, data, fault.target)
            return
        if fault is not None and status == HTTPStatus.OK:
            data["images"] = data["images"][: len(data["images"]) // 2]
        self.answer_json(status, data)

    def _live(self) -> None:
        # Like a long-poll or server-sent events: nothing to say for a long time.
        self.standin._sleep(LONG_POLL_SECONDS)
        self.answer(HTTPStatus.NO_CONTENT, b"", "text/plain", {"Cache-Control": "no-store"})

    def _cdn(self, path: str, *, head: bool) -> None:
        standin = self.standin
        thumbnail = path.endswith("-thumbnail.jpeg")
        standin._count_cdn_request(thumbnail=thumbnail)
        fault = standin.faults.take(self.path, CDN_FAULTS)
        standin._sleep(standin.latency)
        ref = standin.source.parse_image_url(standin.url + path)
        if fault is not None and fault.kind != "timeout":
            send_cdn_fault(self, fault, ref or _PLACEHOLDER, thumbnail, head=head)
            return
        if fault is not None:
            standin._sleep(fault.delay)
        if ref is None or not standin.catalogue.exists(ref.terminal, ref.stream, ref.timestamp):
            self.answer_status(HTTPStatus.NOT_FOUND, head=head, **{"Cache-Control": "no-store"})
            return
        faults = standin.catalogue.camera_faults
        jpeg = render_jpeg(
            ref.terminal, ref.stream, ref.timestamp, thumbnail=thumbnail, faults=faults
        )
        if not head:
            with standin._lock:
                standin._cdn_bytes += len(jpeg)
        self.answer(HTTPStatus.OK, jpeg, "image/jpeg", {"Cache-Control": _IMMUTABLE}, head=head)
