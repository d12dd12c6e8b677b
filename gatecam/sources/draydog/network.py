"""What the camera page asks the network for: image URLs (never fetched) and JSON it reads."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request, Route

logger = logging.getLogger(__name__)

# Requests that can still change what the page renders. Event streams, websockets and
# beacons never finish on purpose, so they are not waited for.
_RENDER_TYPES = frozenset({"document", "script", "xhr", "fetch"})
# A render request open longer than this is taken for a long-poll and no longer waited on.
YOUNG_SECONDS = 3.0
# JSON answers larger than this are not worth scanning for image addresses (the browser)
# nor worth reading at all (replay): a day's listing is a few hundred KB.
MAX_JSON_BYTES = 5_000_000
_JPEG_URL = re.compile(r"""https?://[^\s"'<>()\\]+?\.jpe?g(?:\?[^\s"'<>()\\]*)?""", re.I)


def urls_in_json(data: Any) -> Iterator[str]:
    """Every image address in a decoded JSON document, at any depth, in document order.

    The walk keeps its own stack: a document nested deeper than Python's recursion limit
    (the site's answer is untrusted) is read like any other.
    """
    stack: list[Iterator[Any]] = [iter((data,))]
    while stack:
        for value in stack[-1]:
            if isinstance(value, str):
                yield from _JPEG_URL.findall(value)
            elif isinstance(value, dict | list):
                stack.append(iter(value.values() if isinstance(value, dict) else value))
                break
        else:
            stack.pop()


@dataclass(frozen=True)
class DataRequest:
    """A request whose JSON answer named images: what replay needs to ask for it again."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    image_urls: tuple[str, ...] = ()


class NetworkLog:
    """Watches one page: aborts image downloads but keeps their URLs, and reads its JSON."""

    def __init__(self, page: Page, cdn_url: str) -> None:
        self._cdn = cdn_url.rstrip("/") + "/"
        self._in_flight: dict[Request, float] = {}
        self._finished: list[Request] = []
        self.images: list[str] = []
        self.json_urls: list[str] = []
        # Every JSON answer that named images, in the order they arrived, for learning.
        self.data_requests: list[DataRequest] = []
        self.image_bytes_avoided = 0
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)
        # Every request passes here: image bytes are never downloaded, only their address
        # is kept: thumbnails were ten times the archive's own traffic.
        page.route("**/*", self._route)

    def _is_image(self, request: Request) -> bool:
        url = request.url
        return request.resource_type == "image" or (
            url.startswith(self._cdn) and url.split("?", 1)[0].lower().endswith((".jpeg", ".jpg"))
        )

    def _route(self, route: Route) -> None:
        request = route.request
        with suppress(PlaywrightError):  # the page may have closed meanwhile
            if self._is_image(request):
                self.images.append(request.url)
                route.abort("blockedbyclient")
            else:
                route.continue_()

    def _started(self, request: Request) -> None:
        if request.resource_type in _RENDER_TYPES:
            self._in_flight[request] = time.monotonic()

    def _ended(self, request: Request) -> None:
        if self._in_flight.pop(request, None) is not None and request.resource_type in (
            "xhr",
            "fetch",
            "document",
        ):
            self._finished.append(request)

    def busy(self) -> bool:
        """Whether a render request started lately is still open (long-lived ones are not)."""
        now = time.monotonic()
        return any(now - started < YOUNG_SECONDS for started in self._in_flight.values())

    def read_json(self) -> None:
        """Scan the JSON answers that finished since the last call for image addresses."""
        finished, self._finished = self._finished, []
        for request in finished:
            try:
                response = request.response()
                if response is None or response.status >= 400:
                    continue
                kind = response.headers.get("content-type", "")
                if "json" not in kind:
                    continue
                body = response.body()
            except PlaywrightError:
                continue  # the body is gone with a navigation; the DOM still has the images
            if len(body) > MAX_JSON_BYTES:
                continue
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):
                logger.debug("not JSON (or nested too deep) despite its type: %s", request.url)
                continue
            urls = tuple(urls_in_json(data))
            self.json_urls.extend(urls)
            if urls:
                self.data_requests.append(_data_request(request, urls))


def _data_request(request: Request, urls: tuple[str, ...]) -> DataRequest:
    try:
        headers = request.all_headers()
    except PlaywrightError:
        headers = dict(request.headers)
    return DataRequest(request.method, request.url, headers, request.post_data, urls)
