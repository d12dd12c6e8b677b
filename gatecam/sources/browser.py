"""Lists the images a Dray Dog camera page shows, by running it in headless Chromium."""

from __future__ import annotations

import calendar
import logging
import os
import re
import time
from contextlib import suppress
from datetime import UTC, date, datetime
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, Request, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from gatecam.errors import DiscoveryError
from gatecam.sources.base import ImageRef, Listing
from gatecam.sources.draydog import DrayDogSource

logger = logging.getLogger(__name__)

# Playwright must never download a browser: we drive Debian's Chromium with these flags.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Requests that can still change what the page renders; images and long-lived streams cannot.
_RENDER_REQUESTS = {"document", "script", "xhr", "fetch"}
# How long the page must stay unchanged before we trust it has rendered the chosen day.
_QUIET_SECONDS = 0.5
_POLL_MS = 100
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_HEADER = re.compile(r"(\d{4})\D*?([A-Za-z]+|\d{1,2})\b")

# Scrolls every scroll container one screen further (lazy images get their src only when
# seen) and reports scroll positions and all image addresses, made absolute.
_SCROLL_AND_READ = """() => {
  const step = (el) => { el.scrollTop = el.scrollTop + el.clientHeight; return el.scrollTop; };
  const positions = [step(document.scrollingElement || document.documentElement)];
  for (const el of document.querySelectorAll('*')) {
    const overflow = getComputedStyle(el).overflowY;
    if ((overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight) {
      positions.push(step(el));
    }
  }
  const urls = [];
  for (const img of document.images) {
    if (img.src) urls.push(img.src);
    for (const part of (img.getAttribute('srcset') || '').split(',')) {
      const candidate = part.trim().split(/\\s+/)[0];
      if (candidate) { try { urls.push(new URL(candidate, document.baseURI).href); } catch (e) {} }
    }
  }
  const loading = [...document.querySelectorAll('.el-loading-mask')]
    .some((el) => el.offsetParent !== null);
  return {positions, urls, loading};
}"""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class CameraPageBrowser:
    """Reads the camera page in headless Chromium and lists the images it shows."""

    def __init__(
        self,
        source: DrayDogSource,
        *,
        chromium_path: str = "/usr/bin/chromium",
        timeout: float = 30.0,
    ) -> None:
        self._source = source
        self._chromium_path = chromium_path
        self._timeout = timeout
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        # Warn about each stray URL once per browser, not on every poll of the same page.
        self._warned: set[str] = set()

    def __enter__(self) -> CameraPageBrowser:
        path = self._chromium_path
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise DiscoveryError(
                f"Chromium not found at {path}: install Debian's 'chromium' package "
                "(apt-get install chromium)"
            )
        # Playwright's sync API allows one running instance per thread; a second one fails
        # here with its own message, turned into a DiscoveryError below.
        try:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=path,
                args=CHROMIUM_ARGS,
                headless=True,
                timeout=self._timeout * 1000,
            )
        except PlaywrightError as exc:
            self.__exit__()
            raise DiscoveryError(f"could not start Chromium at {path}: {_first_line(exc)}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        # Closing must never hide the error that ended the with-block, whatever went wrong.
        with suppress(Exception):
            if self._browser is not None:
                self._browser.close()
        with suppress(Exception):
            if self._playwright is not None:
                self._playwright.stop()
        self._browser = None
        self._playwright = None

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        """Every image of the UTC ``day`` the camera page lists."""
        # The page opens on today; other days are picked in its date picker.
        shown = self._list(terminal, stream, None if day == datetime.now(UTC).date() else day)
        # A past day's page still shows today's latest image; keep the asked-for day only.
        refs = [ref for ref in shown if ref.timestamp.date() == day]
        return Listing(refs=refs, found_by={"dom": len(refs)})

    def _list(self, terminal: str, stream: str, day: date | None = None) -> list[ImageRef]:
        url = self._source.camera_page_url(terminal, stream)
        if self._browser is None:
            raise DiscoveryError("CameraPageBrowser must be used inside a 'with' block")
        cdn = self._source.cdn_url.rstrip("/") + "/"
        seen: list[str] = []
        in_flight: set[Request] = set()
        try:
            # UTC and English so "today" and the picker's month names match the CDN's dates.
            context = self._browser.new_context(timezone_id="UTC", locale="en-US")
        except PlaywrightError as exc:
            raise DiscoveryError(f"Chromium failed opening {url}: {_first_line(exc)}") from exc
        try:
            page = context.new_page()
            page.set_default_timeout(self._timeout * 1000)

            def started(request: Request) -> None:
                # Scripts, styles and API calls are not candidates; images and CDN hits are.
                if request.resource_type == "image" or request.url.startswith(cdn):
                    seen.append(request.url)
                if request.resource_type in _RENDER_REQUESTS:
                    in_flight.add(request)

            def ended(request: Request) -> None:
                in_flight.discard(request)

            page.on("request", started)
            page.on("requestfinished", ended)
            page.on("requestfailed", ended)
            self._open(page, url)
            if day is not None:
                # Let today's listing finish first so it cannot overwrite the chosen day.
                self._settle(page, url, in_flight)
                seen.clear()
                self._pick_day(page, url, day)
            seen.extend(self._settle(page, url, in_flight))
        except PlaywrightError as exc:
            raise DiscoveryError(f"reading {url} failed: {_first_line(exc)}") from exc
        finally:
            with suppress(PlaywrightError):
                context.close()
        return self._refs(seen, terminal, stream, cdn)

    def _open(self, page: Page, url: str) -> None:
        try:
            response = page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise DiscoveryError(f"camera page {url} did not load: {_first_line(exc)}") from exc
        if response is not None and response.status >= 400:
            raise DiscoveryError(f"camera page {url} answered HTTP {response.status}")
        try:
            page.get_by_text("History", exact=True).first.wait_for(state="visible")
        except PlaywrightError as exc:
            raise DiscoveryError(f"no History section on {url}") from exc

    def _pick_day(self, page: Page, url: str, day: date) -> None:
        page.locator('input.el-input__inner[placeholder="Pick a day"]').first.click()
        header = page.locator(".el-date-picker__header:visible").first
        wanted = day.year * 12 + day.month - 1
        for _ in range(12 * 50):  # bounded: a broken header must not loop forever
            text = " ".join(header.inner_text().split())
            shown = self._header_month(text, url)
            if shown == wanted:
                break
            arrow = "right" if shown < wanted else "left"
            header.locator(f".el-icon-arrow-{arrow}").first.click()
            # Vue re-renders after the click returns; wait so we never click twice per month.
            page.locator(".el-date-picker__header:visible").filter(has_not_text=text).wait_for()
        else:
            raise DiscoveryError(f"the date picker on {url} never reached {day:%Y %B}")
        cells = page.locator(
            "table.el-date-table:visible td.available:not(.prev-month):not(.next-month)"
        ).filter(has=page.locator("span", has_text=re.compile(rf"^\s*{day.day}\s*$")))
        if cells.count() == 0:
            raise DiscoveryError(f"{day.isoformat()} is not available in the date picker on {url}")
        cells.first.click()

    @staticmethod
    def _header_month(text: str, url: str) -> int:
        match = _HEADER.search(text)
        month = 0
        if match:
            name = match[2]
            month = int(name) if name.isdigit() else _MONTHS.get(name.lower(), 0)
        if not match or not 1 <= month <= 12:
            raise DiscoveryError(f"cannot read the date picker header {text!r} on {url}")
        return int(match[1]) * 12 + month - 1

    def _settle(self, page: Page, url: str, in_flight: set[Request]) -> list[str]:
        """Scroll to the bottom and wait until nothing loads or changes; return image URLs."""
        deadline = time.monotonic() + self._timeout
        last: Any = None
        quiet_since = time.monotonic()
        while True:
            state = page.evaluate(_SCROLL_AND_READ)
            now = time.monotonic()
            if in_flight or state["loading"] or state != last:
                last, quiet_since = state, now
            elif now - quiet_since >= _QUIET_SECONDS:
                return list(state["urls"])
            if now > deadline:
                raise DiscoveryError(f"camera page {url} kept loading for {self._timeout:g} s")
            page.wait_for_timeout(_POLL_MS)  # lets Playwright deliver the request events

    def _refs(self, urls: list[str], terminal: str, stream: str, cdn: str) -> list[ImageRef]:
        refs: set[ImageRef] = set()
        for url in dict.fromkeys(urls):
            ref = self._source.parse_image_url(url)
            if ref is not None:
                if (ref.terminal, ref.stream) == (terminal, stream):
                    refs.add(ref)
                continue
            # data: and blob: images (placeholders, icons) never name a camera image.
            if not url.startswith(("http:", "https:")) or url in self._warned:
                continue
            on_cdn = url.startswith(cdn)
            self._warned.add(url)
            reason = "not a camera image with a valid timestamp" if on_cdn else "outside the CDN"
            logger.warning("ignoring image URL %s: %s", url, reason)
        return sorted(refs, key=lambda ref: ref.timestamp)
