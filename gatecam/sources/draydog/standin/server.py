"""The stand-in site over HTTP: camera page, its listing API, the CDN, faults and a control API."""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from gatecam.model import ImageRef, is_name
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin.catalogue import Catalogue
from gatecam.sources.draydog.standin.hostile import HOSTILE_FAULTS, send_hostile
from gatecam.sources.draydog.standin.httpserver import LocalHandler, LocalServer
from gatecam.sources.draydog.standin.images import render_jpeg

log = logging.getLogger(__name__)

# What the CDN does instead of answering: an HTTP status (429 with ``Retry-After`` rounded
# up from retry_after); "timeout" holds the answer ``delay`` seconds; "reset" drops the
# connection; "html", "zero", "truncated", "no_eoi" and "wrong_type" send a bad 200 body.
# Hostile ones: "trickle" sends a valid JPEG (Content-Length set) one byte every ``delay``
# seconds; "retry_nan" is a 429 with ``Retry-After: nan``; "retry_garbage" is a 429 whose
# Retry-After cycles through 1e308, -5, inf and an HTTP date in the year 9999.
CDN_FAULTS = frozenset(
    {"500", "502", "503", "404", "429", "timeout", "reset", "html", "truncated", "zero"}
    | {"no_eoi", "wrong_type", "trickle", "retry_nan", "retry_garbage"}
)
# The Retry-After values "retry_garbage" sends, in turn.
GARBAGE_RETRY_AFTER = ("1e308", "-5", "inf", "Fri, 31 Dec 9999 23:59:59 GMT")
PAGE_FAULTS = frozenset({"page_500", "no_history", "foreign_url"})
# The listing API answers 200 with only the newer half of the day: plausible, and wrong.
# The hostile ones (gatecam.sources.draydog.standin.hostile) answer what discovery must refuse.
API_FAULTS = frozenset({"short_listing"}) | HOSTILE_FAULTS
FAULT_KINDS = CDN_FAULTS | PAGE_FAULTS | API_FAULTS

# Harder but plausible pages: same CDN and Element UI markup, different habits.
VARIANTS: dict[str, str] = {
    "longpoll": "a request the page keeps open, and the latest image refreshed every 3 s",
    "paged": "History paged 20 at a time with Element UI el-pagination (btn-next, li.number)",
    "loadmore": "History shows 20 images and a 'Load more' button for the next 20",
    "lazy": "thumbnails in a scroll box get their src only when seen (200 ms throttle)",
    "heading": "heading 'history (N)' in lower case with nested spans, images in hour groups",
    "element-plus": "Element Plus date picker: arrow buttons with aria-labels, no icon classes",
    "json": "no thumbnail in the DOM: drawn on canvases, URLs only in the page's JSON",
    "pacific": "the site cuts days in America/Los_Angeles, not UTC",
    "token": "the listing API needs a short-lived token the page first gets from /api/session",
    "embedded": "the day's list is embedded in the page's HTML: no JSON request at all",
    "cursor": "the listing JSON comes 7 images at a time with a 'next' link the page follows",
}
# What "all" turns into; every variant at once.
ALL_VARIANTS = "all"
PAGE_SIZE = 20
_PACIFIC = ZoneInfo("America/Los_Angeles")
# How long the held-open request of the "longpoll" variant stays open.
_LONG_POLL_SECONDS = 20.0
# Images per answer of the "cursor" variant, within the asked page.
CURSOR_SIZE = 7
# The header carrying the "token" variant's session token.
TOKEN_HEADER = "X-Camera-Token"


def parse_variants(names: Iterable[str]) -> frozenset[str]:
    """The variant set for ``names`` ("all" means every one); ValueError names an unknown one."""
    chosen: set[str] = set()
    for name in names:
        name = name.strip()
        if name == ALL_VARIANTS:
            chosen.update(VARIANTS)
        elif name in VARIANTS:
            chosen.add(name)
        elif name:
            known = ", ".join([*VARIANTS, ALL_VARIANTS])
            raise ValueError(f"unknown stand-in variant {name!r}; known: {known}")
    return frozenset(chosen)


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


@dataclass
class _Fault:
    kind: str
    match: str
    times: int | None
    retry_after: float
    delay: float
    # Where a hostile listing's ``next`` points (None: the kind's own default).
    target: str | None = None


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
        self._faults: list[_Fault] = []
        self._cdn_requests = 0
        self._thumbnail_requests = 0
        self._cdn_bytes = 0
        self._garbage = itertools.cycle(GARBAGE_RETRY_AFTER)
        self._stopping = threading.Event()
        super().__init__(host, port, _Handler)
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
        return now.astimezone(_PACIFIC).date() if "pacific" in self.variants else now.date()

    def site_day(self, terminal: str, stream: str, day: date) -> list[datetime]:
        """The timestamps the page lists for its ``day``, newest first."""
        catalogue = self._catalogue
        if "pacific" not in self.variants:
            return catalogue.list(terminal, stream, day)
        # A Pacific day spans two UTC days.
        found = catalogue.list(terminal, stream, day + timedelta(days=1))
        found += catalogue.list(terminal, stream, day)
        return [ts for ts in found if ts.astimezone(_PACIFIC).date() == day]

    def stop(self) -> None:
        """Stop serving and close the port; sleeping answers (latency, timeouts) wake up."""
        self._stopping.set()
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
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}"
            )
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for every request")
        with self._lock:
            self._faults.append(_Fault(kind, match, times, retry_after, delay, target))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, kinds: frozenset[str]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.match in path:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _garbage_retry_after(self) -> str:
        with self._lock:
            return next(self._garbage)

    def _count_cdn_request(self, *, thumbnail: bool) -> None:
        with self._lock:
            self._cdn_requests += 1
            self._thumbnail_requests += thumbnail

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Handler(LocalHandler):
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
            self._page(page["terminal"], _param(query, "streamName"), head=method == "HEAD")
        elif path == "/favicon.ico" and reading:
            # Answered so a browser's console stays free of 404 noise.
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", head=method == "HEAD")
        elif path == "/api/history" and method == "GET":
            self._history(query)
        elif path == "/api/session" and method == "GET":
            token = self.standin.issue_token()
            self._json(HTTPStatus.OK, {"token": token, "expires_in": self.standin.token_ttl})
        elif path == "/api/live" and method == "GET":
            self._live()
        elif path == "/_standin/images" and method in ("GET", "POST"):
            self._control_images(method, query, body)
        elif path == "/_standin/requests" and method == "GET":
            counts = {
                "cdn_requests": self.standin.cdn_requests,
                "thumbnail_requests": self.standin.thumbnail_requests,
            }
            self._json(HTTPStatus.OK, counts)
        elif path == "/_standin/faults" and method in ("POST", "DELETE"):
            self._control_faults(method, body)
        else:
            self._html(HTTPStatus.NOT_FOUND, head=method == "HEAD")

    def _read_body(self) -> bytes:
        # Always drain the body so the next request on a kept-alive connection parses.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # --- answers -------------------------------------------------------------------------

    def _send(
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

    def _html(self, status: HTTPStatus, *, head: bool = False, **headers: str) -> None:
        text = f"{status.value} {status.phrase}"
        body = f"<!DOCTYPE html><html><head><title>{text}</title></head><body><h1>{text}</h1>"
        body += "</body></html>"
        self._send(status, body.encode(), "text/html; charset=utf-8", headers, head=head)

    def _json(self, status: HTTPStatus, data: Any) -> None:
        body = json.dumps(data).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"})

    def _bad_request(self, message: str) -> None:
        self._json(HTTPStatus.BAD_REQUEST, {"error": message})

    # --- the site ------------------------------------------------------------------------

    def _page(self, terminal: str, stream: str, *, head: bool) -> None:
        if not (is_name(terminal) and is_name(stream)):
            self._html(HTTPStatus.NOT_FOUND, head=head)
            return
        fault = self.standin._take_fault(self.path, PAGE_FAULTS)
        if fault is not None and fault.kind == "page_500":
            self._html(HTTPStatus.INTERNAL_SERVER_ERROR, head=head)
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
            status, data = self._listing(query, paged_by_cursor=False)
            embedded = json.dumps(data if status == HTTPStatus.OK else None).replace("<", "\\u003c")
        body = page.replace("__STANDIN_DATA__", embedded).encode()
        headers = {"Cache-Control": "no-store"}
        self._send(HTTPStatus.OK, body, "text/html; charset=utf-8", headers, head=head)

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
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "session token missing or expired"})
            return
        status, data = self._listing(query, paged_by_cursor="cursor" in standin.variants)
        fault = standin._take_fault(self.path, API_FAULTS)
        if fault is not None and fault.kind in HOSTILE_FAULTS:
            send_hostile(self, fault.kind, data, fault.target)
            return
        if fault is not None and status == HTTPStatus.OK:
            data["images"] = data["images"][: len(data["images"]) // 2]
        self._json(status, data)

    def _listing(
        self, query: dict[str, list[str]], *, paged_by_cursor: bool
    ) -> tuple[HTTPStatus, dict[str, Any]]:
        """The listing of one camera and day (page), as the API answers it."""
        terminal, stream = _param(query, "terminal"), _param(query, "stream")
        if not (is_name(terminal) and is_name(stream)):
            return _bad("terminal and stream must be names of a-z, 0-9, _ and -")
        standin = self.standin
        catalogue, source = standin.catalogue, standin.source
        today = standin.site_today()
        day = _day(_param(query, "date"), today)
        page, size = _int(_param(query, "page"), 1), _int(_param(query, "size"), 0)
        cursor = _param(query, "cursor")
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
                    "timestamp": _iso(ref.timestamp),
                    "full": source.image_url(ref),
                    "thumbnail": source.image_url(ref, thumbnail=True),
                }
                for ref in images
            ],
        }
        if paged_by_cursor:
            after = {k: v[0] for k, v in query.items()} | {"cursor": f"c{offset + CURSOR_SIZE}"}
            data["next"] = f"/api/history?{urlencode(after)}" if more else None
        if _param(query, "mode") == "foreign_url":
            data["extra"] = _foreign_urls(source, terminal, stream, day, images)
        return HTTPStatus.OK, data

    def _live(self) -> None:
        # Like a long-poll or server-sent events: nothing to say for a long time.
        self.standin._sleep(_LONG_POLL_SECONDS)
        self._send(HTTPStatus.NO_CONTENT, b"", "text/plain", {"Cache-Control": "no-store"})

    def _cdn(self, path: str, *, head: bool) -> None:
        standin = self.standin
        thumbnail = path.endswith("-thumbnail.jpeg")
        standin._count_cdn_request(thumbnail=thumbnail)
        fault = standin._take_fault(self.path, CDN_FAULTS)
        standin._sleep(standin.latency)
        ref = standin.source.parse_image_url(standin.url + path)
        if fault is not None and fault.kind != "timeout":
            self._cdn_fault(fault, ref or _PLACEHOLDER, thumbnail, head=head)
            return
        if fault is not None:
            standin._sleep(fault.delay)
        if ref is None or not standin.catalogue.exists(ref.terminal, ref.stream, ref.timestamp):
            self._html(HTTPStatus.NOT_FOUND, head=head, **{"Cache-Control": "no-store"})
            return
        faults = standin.catalogue.camera_faults
        jpeg = render_jpeg(
            ref.terminal, ref.stream, ref.timestamp, thumbnail=thumbnail, faults=faults
        )
        if not head:
            with standin._lock:
                standin._cdn_bytes += len(jpeg)
        self._send(HTTPStatus.OK, jpeg, "image/jpeg", {"Cache-Control": _IMMUTABLE}, head=head)

    def _cdn_fault(self, fault: _Fault, ref: ImageRef, thumbnail: bool, *, head: bool) -> None:
        kind = fault.kind
        if kind in ("404", "500", "502", "503"):
            self._html(HTTPStatus(int(kind)), head=head)
        elif kind == "429":
            retry = str(max(0, math.ceil(fault.retry_after)))
            self._html(HTTPStatus.TOO_MANY_REQUESTS, head=head, **{"Retry-After": retry})
        elif kind in ("retry_nan", "retry_garbage"):
            retry = "nan" if kind == "retry_nan" else self.standin._garbage_retry_after()
            self._html(HTTPStatus.TOO_MANY_REQUESTS, head=head, **{"Retry-After": retry})
        elif kind == "reset":
            # Linger 0 makes close() send a TCP RST instead of an orderly FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.rfile.close()  # the socket really closes only once its files are closed
            self.connection.close()
        elif kind == "html":
            body = b"<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>"
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8", head=head)
        elif kind == "zero":
            self._send(HTTPStatus.OK, b"", "image/jpeg", head=head)
        else:
            faults = self.standin.catalogue.camera_faults
            jpeg = render_jpeg(
                ref.terminal, ref.stream, ref.timestamp, thumbnail=thumbnail, faults=faults
            )
            if kind == "truncated":
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(jpeg)))
                self.end_headers()
                if not head:
                    self.wfile.write(jpeg[: len(jpeg) // 2])
                self.close_connection = True
            elif kind == "trickle":
                self._trickle(jpeg, fault.delay, head=head)
            elif kind == "no_eoi":
                self._send(HTTPStatus.OK, jpeg[:-2], "image/jpeg", head=head)
            else:  # wrong_type
                self._send(HTTPStatus.OK, jpeg, "text/plain", head=head)

    def _trickle(self, jpeg: bytes, delay: float, *, head: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(jpeg)))
        self.end_headers()
        if head:
            return
        # The connection is useless once the body stops short of its length.
        self.close_connection = True
        for n in range(len(jpeg)):
            self.wfile.write(jpeg[n : n + 1])
            if self.standin._stopping.wait(delay):
                return

    # --- control API, for tests driving a `gatecam simulate` in another process -----------

    def _control_images(self, method: str, query: dict[str, list[str]], body: bytes) -> None:
        catalogue = self.standin.catalogue
        if method == "GET":
            terminal, stream = _param(query, "terminal"), _param(query, "stream")
            day = _day(_param(query, "date"), catalogue.today())
            if not (is_name(terminal) and is_name(stream)):
                self._bad_request("terminal and stream must be names of a-z, 0-9, _ and -")
            elif day is None:
                self._bad_request("date must be YYYY-MM-DD")
            else:
                found = catalogue.list(terminal, stream, day)
                self._json(HTTPStatus.OK, {"timestamps": [_iso(ts) for ts in found]})
            return
        try:
            data = json.loads(body)
            ts = datetime.fromisoformat(data["timestamp"])
            # A timestamp without a zone is taken as UTC, the site's only zone.
            ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
            catalogue.add(data["terminal"], data["stream"], ts)
        except Exception as exc:  # any malformed request body is the caller's error
            self._bad_request(f"expected JSON {{terminal, stream, timestamp}}: {exc}")
            return
        self._json(HTTPStatus.CREATED, {"timestamp": _iso(ts.replace(microsecond=0))})

    def _control_faults(self, method: str, body: bytes) -> None:
        if method == "DELETE":
            self.standin.clear_faults()
            self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
            return
        try:
            data = json.loads(body)
            self.standin.inject(
                data["kind"],
                match=str(data.get("match", "")),
                times=data.get("times", 1),
                retry_after=float(data.get("retry_after", 1.0)),
                delay=float(data.get("delay", 5.0)),
                target=None if data.get("target") is None else str(data["target"]),
            )
        except Exception as exc:  # any malformed request body is the caller's error
            self._bad_request(
                f"expected JSON {{kind, match, times, retry_after, delay, target}}: {exc}"
            )
            return
        self._json(HTTPStatus.CREATED, {"kind": data["kind"]})


def _bad(message: str) -> tuple[HTTPStatus, dict[str, Any]]:
    return HTTPStatus.BAD_REQUEST, {"error": message}


def _param(query: dict[str, list[str]], name: str) -> str:
    return query.get(name, [""])[0]


def _int(text: str, default: int) -> int:
    return int(text) if text.isdigit() else (default if not text else -1)


def _day(text: str, default: date) -> date | None:
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
