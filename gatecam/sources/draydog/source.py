"""Dray Dog as a Source: replay of learned listing requests, with Chromium behind it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from gatecam.model import Clock
from gatecam.settings import DownloadConfig
from gatecam.sources.base import ListingTools
from gatecam.sources.draydog.discovery import ReplayLister
from gatecam.sources.draydog.site import DrayDogSite

if TYPE_CHECKING:
    from gatecam.sources.draydog.browser import CameraPageBrowser
    from gatecam.sources.draydog.probe import ProbeReport


@dataclass(frozen=True)
class DrayDogSource(DrayDogSite):
    """The Dray Dog site: its addresses, and a lister that replays or opens Chromium."""

    def browser(self, clock: Clock | None = None) -> CameraPageBrowser:
        """One headless Chromium, to be used in a ``with`` block."""
        # Playwright is imported only once a listing needs the browser.
        from gatecam.sources.draydog.browser import CameraPageBrowser

        return CameraPageBrowser(
            self, chromium_path=self.chromium_path, timeout=self.page_timeout, clock=clock
        )

    @contextmanager
    def lister(self, tools: ListingTools) -> Iterator[ReplayLister]:
        """The tick's lister: replay, and one browser opened when a listing first needs it."""
        with ExitStack() as browsers:
            yield ReplayLister(
                self,
                tools.recipes,
                browser=lambda: browsers.enter_context(self.browser(tools.clock)),
                client=tools.client,
                clock=tools.clock,
                workers=tools.workers,
            )

    def probe(self, terminal: str, stream: str, day: date, out_dir: Path) -> ProbeReport:
        """One browser discovery and its replay, kept as a bundle (screenshot, DOM, HAR)."""
        # Like the browser, Playwright is imported only when a probe asks for it.
        from gatecam.sources.draydog.probe import probe

        return probe(self, terminal, stream, day, out_dir)


def make_source(settings: DownloadConfig) -> DrayDogSource:
    """The Dray Dog site at the settings' addresses, with their browser and page timeout."""
    return DrayDogSource(
        settings.app_url,
        settings.cdn_url,
        chromium_path=settings.chromium_path,
        page_timeout=settings.page_timeout,
    )
