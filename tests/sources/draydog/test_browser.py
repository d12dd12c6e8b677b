"""Discovery in real headless Chromium against the local stand-in of the camera page."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from gatecam.errors import DiscoveryError, InputError
from gatecam.model import ImageRef
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.browser import CameraPageBrowser
from gatecam.sources.draydog.standin import Catalogue, StandIn

# A frozen clock: no scheduled image gets published between the page's listing and ours.
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


def expected(site: StandIn, terminal: str, stream: str, day: date) -> list[ImageRef]:
    """What the stand-in publishes for that day, oldest first."""
    return [
        ImageRef(terminal, stream, ts)
        for ts in reversed(site.catalogue.list(terminal, stream, day))
    ]


@pytest.fixture(scope="module")
def site() -> Iterator[StandIn]:
    catalogue = Catalogue(clock=lambda: NOW)
    # Even just after midnight UTC, today has images.
    catalogue.add("apm", "in_gate", datetime.combine(TODAY, time(), UTC))
    catalogue.add("apm", "in_gate", NOW)
    with StandIn(catalogue=catalogue) as standin:
        yield standin


@pytest.fixture(scope="class")
def browser(site: StandIn) -> Iterator[CameraPageBrowser]:
    with CameraPageBrowser(site.source, timeout=20, clock=lambda: NOW) as opened:
        yield opened


@pytest.mark.browser
class TestOneBrowser:
    """Shares one Chromium; it closes before the tests below start their own (Playwright's sync
    API runs one instance per thread at a time)."""

    def test_today_lists_the_published_images(
        self, site: StandIn, browser: CameraPageBrowser
    ) -> None:
        listing = browser.list_images("apm", "in_gate", TODAY)
        assert listing.refs
        assert listing.refs == expected(site, "apm", "in_gate", TODAY)
        assert listing.found_by["dom"] == len(listing.refs)

    @pytest.mark.parametrize("days_ago", [3, 40], ids=["this-or-last-month", "earlier-month"])
    def test_picking_a_past_day(
        self, site: StandIn, browser: CameraPageBrowser, days_ago: int
    ) -> None:
        day = TODAY - timedelta(days=days_ago)
        refs = browser.list_images("apm", "out_gate", day).refs
        # The page's latest image (today's) is not part of the asked-for day.
        assert refs == expected(site, "apm", "out_gate", day)
        assert len(refs) > 50

    def test_a_future_day_is_not_in_the_picker(self, browser: CameraPageBrowser) -> None:
        tomorrow = TODAY + timedelta(days=1)
        with pytest.raises(DiscoveryError, match=f"{tomorrow.isoformat()} is not available"):
            browser.list_images("apm", "in_gate", tomorrow)

    def test_foreign_and_unparsable_urls_are_ignored_and_logged(
        self, site: StandIn, browser: CameraPageBrowser, caplog: pytest.LogCaptureFixture
    ) -> None:
        site.inject("foreign_url", match="/terminal_cameras/fenix?")
        with caplog.at_level(logging.WARNING, logger="gatecam.sources.draydog.browser"):
            refs = browser.list_images("fenix", "in_gate", TODAY).refs
        assert refs == expected(site, "fenix", "in_gate", TODAY)
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        foreign = [m for m in warned if "http://evil.invalid/fenix/" in m]
        unparsable = [m for m in warned if f"{site.cdn_url}/fenix/" in m and "-13-45T99:00:00" in m]
        assert len(foreign) == 1 and "outside the CDN" in foreign[0]
        assert len(unparsable) == 1 and "not a camera image" in unparsable[0]

    def test_page_errors_are_one_discovery_error(
        self, site: StandIn, browser: CameraPageBrowser
    ) -> None:
        url = site.source.camera_page_url("apm", "in_gate")
        site.inject("page_500", match="/terminal_cameras/apm?")
        with pytest.raises(DiscoveryError, match="HTTP 500") as caught:
            browser.list_images("apm", "in_gate", TODAY)
        assert url in str(caught.value)
        assert str(caught.value).endswith("run `gatecam probe --stream in_gate`")
        with pytest.raises(InputError):
            browser.list_images("APM", "in_gate", TODAY)


@pytest.mark.browser
def test_no_history_section(site: StandIn) -> None:
    url = site.source.camera_page_url("apm", "in_gate")
    site.inject("no_history", match="/terminal_cameras/apm?")
    # A short timeout: the test waits it out.
    with (
        CameraPageBrowser(site.source, timeout=3) as browser,
        pytest.raises(
            DiscoveryError,
            match=f"^History section not found on {re.escape(url)}: the page layout may have "
            "changed; run `gatecam probe --stream in_gate`$",
        ),
    ):
        browser.list_images("apm", "in_gate", TODAY)


@pytest.mark.browser
def test_page_that_does_not_load() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more: the connection is refused.
    source = DrayDogSource(
        app_url=f"http://127.0.0.1:{port}", cdn_url=f"http://127.0.0.1:{port}/cdn"
    )
    url = source.camera_page_url("apm", "in_gate")
    with (
        CameraPageBrowser(source, timeout=5) as browser,
        pytest.raises(DiscoveryError, match="ERR_CONNECTION_REFUSED") as caught,
    ):
        browser.list_images("apm", "in_gate", TODAY)
    assert url in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_chromium(tmp_path: Path) -> None:
    missing = f"{tmp_path}/no-such-chromium"
    browser = CameraPageBrowser(DrayDogSource(), chromium_path=missing)
    with pytest.raises(
        DiscoveryError, match=f"^Chromium not found at {re.escape(missing)}: .*apt-get install"
    ):
        browser.__enter__()
    with pytest.raises(DiscoveryError, match="inside a 'with' block"):
        browser.list_images("apm", "in_gate", TODAY)
    browser.__exit__(None, None, None)
