"""Lists the images a Dray Dog camera page shows, by running it in headless Chromium."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from gatecam.errors import DayUnavailable, DiscoveryError, first_line
from gatecam.model import ImageRef
from gatecam.sources.base import Listing
from gatecam.sources.draydog.datepicker import pick_day
from gatecam.sources.draydog.network import NetworkLog
from gatecam.sources.draydog.pagereader import Harvest, read_day
from gatecam.sources.draydog.site import DrayDogSite
from gatecam.sources.draydog.trace import Artifacts, Trace, save_page

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
STRATEGIES = ("dom", "requests", "json")
# "History", "history (24)", nested spans: any element whose text starts with the word.
_HISTORY = re.compile(r"^\s*history\b", re.IGNORECASE)
# A listed day whose first image comes this late after UTC midnight may have its start on
# the site's previous day (a site cutting days in Pacific time).
_LATE_START = timedelta(minutes=45)
VIEWPORT: ViewportSize = {"width": 1280, "height": 2400}


class CameraPageBrowser:
    """Reads the camera page in headless Chromium and lists the images it shows."""

    def __init__(
        self,
        source: DrayDogSite,
        *,
        chromium_path: str = "/usr/bin/chromium",
        timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._source = source
        self._chromium_path = chromium_path
        self._timeout = timeout
        # Which UTC day is "today" decides between the page's own day and the picker.
        self._clock = clock or (lambda: datetime.now(UTC))
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        # Warn about each stray URL once per browser, not on every listing of the same page.
        self._warned: set[str] = set()
        self.launches = 0

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
                # Ctrl-C and SIGTERM are gatecam's to handle: it finishes the batch in flight
                # and records the run. The driver would otherwise close the browser under
                # the running job.
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
            self.launches += 1
        except PlaywrightError as exc:
            self.__exit__()
            raise DiscoveryError(f"could not start Chromium at {path}: {first_line(exc)}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        # Closing must never hide the error that ended the with-block, whatever went wrong.
        with suppress(Exception):
            if self._browser is not None:
                self._browser.close()
        with suppress(Exception):
            if self._playwright is not None:
                manager = getattr(self._playwright.stop, "__self__", None)
                self._playwright.stop()
                _read_driver_error(manager)
        self._browser = None
        self._playwright = None

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        """Every image of the UTC ``day`` the camera page lists (see Lister)."""
        return self.discover(terminal, stream, day, known=known)

    def discover(
        self,
        terminal: str,
        stream: str,
        day: date,
        *,
        known: frozenset[datetime] = frozenset(),
        trace: Trace | None = None,
        artifacts: Artifacts | None = None,
    ) -> Listing:
        """list_images, recording steps in ``trace`` and the page into ``artifacts``."""
        trace = trace if trace is not None else Trace()
        url = self._source.camera_page_url(terminal, stream)
        try:
            with self._page(url, artifacts) as (page, network):
                try:
                    self._discover(page, network, url, day, known, trace)
                finally:
                    trace.data_requests.extend(network.data_requests)
        except DiscoveryError as exc:
            # Every cause names the one command that shows what the page did.
            hint = f"; run `gatecam probe --stream {stream}`"
            if "gatecam probe" in str(exc) or "Chromium" in str(exc):
                raise
            raise DiscoveryError(f"{exc}{hint}") from exc
        return self._listing(terminal, stream, day, trace)

    def _discover(
        self,
        page: Page,
        network: NetworkLog,
        url: str,
        day: date,
        known: frozenset[datetime],
        trace: Trace,
    ) -> None:
        today = self._clock().astimezone(UTC).date()
        with trace.step("open"):
            self._open(page, url)
        if day == today:
            # The page opens on the site's today: read it, and stop paging at known images.
            self._read(page, network, url, "default", day, known, trace)
        else:
            # Let the first listing render so it cannot overwrite the chosen day.
            self._read(page, network, url, "initial", day, known, trace, follow=False)
            self._pick_and_read(page, network, url, day, day, known, trace)
        self._cover_neighbours(page, network, url, day, today, known, trace)

    @contextmanager
    def _page(self, url: str, artifacts: Artifacts | None) -> Iterator[tuple[Page, NetworkLog]]:
        if self._browser is None:
            raise DiscoveryError("CameraPageBrowser must be used inside a 'with' block")
        har = None if artifacts is None else artifacts.har
        try:
            # UTC and English so "today" and the picker's month names match the CDN's dates.
            context: BrowserContext = self._browser.new_context(
                timezone_id="UTC",
                locale="en-US",
                service_workers="block",
                record_har_path=har,
                # A tall window shows a long History list in a few scroll steps.
                viewport=VIEWPORT,
            )
        except PlaywrightError as exc:
            raise DiscoveryError(f"Chromium failed opening {url}: {first_line(exc)}") from exc
        try:
            page = context.new_page()
            page.set_default_timeout(self._timeout * 1000)
            network = NetworkLog(page, self._source.cdn_url)
            try:
                yield page, network
            except PlaywrightError as exc:
                raise DiscoveryError(f"reading {url} failed: {first_line(exc)}") from exc
            finally:
                if artifacts is not None:
                    save_page(page, artifacts)
        finally:
            with suppress(PlaywrightError):
                context.close()

    def _open(self, page: Page, url: str) -> None:
        try:
            response = page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise DiscoveryError(
                f"camera page {url} did not load: {first_line(exc)}; "
                "check the network and the app URL"
            ) from exc
        if response is not None and response.status >= 400:
            raise DiscoveryError(
                f"camera page {url} answered HTTP {response.status}: the site is down or "
                "the terminal/stream name is wrong"
            )
        try:
            page.get_by_text(_HISTORY).first.wait_for(state="visible")
        except PlaywrightError as exc:
            raise DiscoveryError(
                f"History section not found on {url}: the page layout may have changed"
            ) from exc

    def _read(
        self,
        page: Page,
        network: NetworkLog,
        url: str,
        label: str,
        day: date,
        known: frozenset[datetime],
        trace: Trace,
        *,
        follow: bool = True,
    ) -> Harvest:
        def enough(new: set[str]) -> bool:
            # Paging may stop once the oldest image of the day on this page is archived.
            stamps = [r.timestamp for r in self._parse(new) if r.timestamp.date() == day]
            return bool(known) and bool(stamps) and min(stamps) in known

        with trace.step(f"read {label}"):
            harvest = read_day(
                page,
                network,
                url=url,
                cdn_url=self._source.cdn_url,
                timeout=self._timeout,
                follow=follow,
                enough=enough,
            )
        if follow:
            trace.harvests.append((label, harvest))
        return harvest

    def _pick_and_read(
        self,
        page: Page,
        network: NetworkLog,
        url: str,
        site_day: date,
        day: date,
        known: frozenset[datetime],
        trace: Trace,
    ) -> Harvest | None:
        with trace.step(f"pick {site_day}"):
            try:
                pick_day(page, url, site_day)
            except DayUnavailable:
                if site_day != day:
                    return None  # a neighbour the site does not offer (yet) holds nothing
                raise
        # Images of the previous listing stay in the DOM until the new one renders.
        network.images.clear()
        network.json_urls.clear()
        return self._read(page, network, url, str(site_day), day, known, trace)

    def _cover_neighbours(
        self,
        page: Page,
        network: NetworkLog,
        url: str,
        day: date,
        today: date,
        known: frozenset[datetime],
        trace: Trace,
    ) -> None:
        """Read the site's neighbouring day when its days are not cut at UTC midnight."""
        stamps = [r.timestamp for _, h in trace.harvests for r in self._parse(h.all())]
        dates = {ts.date() for ts in stamps}
        ours = [ts for ts in stamps if ts.date() == day]
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # Judged by the UTC day's own first and last image: every page also shows today's
        # latest image, so a stray later date says nothing about where the site cuts days.
        if day - timedelta(days=1) not in dates and (
            not ours or min(ours) - midnight > _LATE_START
        ):
            # The listing starts late: the site's day may begin after UTC midnight (Pacific
            # time), so its previous day holds the start of ours.
            self._pick_and_read(page, network, url, day - timedelta(days=1), day, known, trace)
        elif day < today and ours and midnight + timedelta(days=1) - max(ours) > _LATE_START:
            # The listing ends early: the site's day may end before UTC midnight.
            self._pick_and_read(page, network, url, day + timedelta(days=1), day, known, trace)

    def _parse(self, urls: set[str]) -> list[ImageRef]:
        return [ref for url in urls if (ref := self._source.parse_image_url(url)) is not None]

    def _listing(self, terminal: str, stream: str, day: date, trace: Trace) -> Listing:
        by_strategy: dict[str, set[ImageRef]] = {name: set() for name in STRATEGIES}
        elsewhere: dict[ImageRef, str] = {}
        for _, harvest in trace.harvests:
            for name, urls in (
                ("dom", harvest.dom),
                ("requests", harvest.requests),
                ("json", harvest.json),
            ):
                for ref in self._refs(urls, terminal, stream, elsewhere):
                    if ref.timestamp.date() == day:
                        by_strategy[name].add(ref)
        refs = set().union(*by_strategy.values())
        # One address per image of the day, thumbnail or not.
        foreign = sorted(url for ref, url in elsewhere.items() if ref.timestamp.date() == day)
        if foreign and refs:
            # One line however many. With none on the CDN the job fails the run with this
            # very line, so it is not said twice.
            logger.warning(
                "ignoring %d image(s) of %s/%s outside the CDN %s, e.g. %s",
                len(foreign),
                terminal,
                stream,
                self._source.cdn_url,
                foreign[0],
            )
        return Listing(
            refs=sorted(refs, key=lambda ref: ref.timestamp),
            found_by={name: len(found) for name, found in by_strategy.items()},
            elsewhere=foreign,
        )

    def _refs(
        self, urls: set[str], terminal: str, stream: str, elsewhere: dict[ImageRef, str]
    ) -> list[ImageRef]:
        """The stream's images among ``urls``; its images on another host go to ``elsewhere``."""
        cdn = self._source.cdn_url.rstrip("/") + "/"
        refs: list[ImageRef] = []
        for url in sorted(urls):
            ref = self._source.parse_image_url(url)
            if ref is not None:
                if (ref.terminal, ref.stream) == (terminal, stream):
                    refs.append(ref)
                continue
            # data: and blob: images (placeholders, icons) never name a camera image.
            if not url.startswith(("http:", "https:")):
                continue
            on_cdn = url.startswith(cdn)
            other = None if on_cdn else self._source.parse_image_url_anywhere(url)
            if other is not None:
                if (other.terminal, other.stream) == (terminal, stream):
                    elsewhere.setdefault(other, url)
                continue
            if url in self._warned:
                continue
            self._warned.add(url)
            reason = "not a camera image with a valid timestamp" if on_cdn else "outside the CDN"
            logger.warning("ignoring image URL %s: %s", url, reason)
        return refs


def _read_driver_error(manager: object) -> None:
    """Read the error Playwright keeps when its driver process ended before it was stopped.

    The driver shares gatecam's process group, so a terminal's Ctrl-C or a SIGTERM to the
    group ends it under the job. Playwright puts "Connection closed while reading from the
    driver" in a future only its start-up awaits; unread, asyncio prints it with a traceback
    after gatecam's last line. The job has already said it was stopped: nothing is lost.
    """
    transport = getattr(getattr(manager, "_client", None), "_transport", None)
    future = getattr(transport, "on_error_future", None)
    if future is not None and future.done() and not future.cancelled():
        future.exception()
