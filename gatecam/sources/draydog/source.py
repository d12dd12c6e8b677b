"""Dray Dog as a Source: replay of learned listing requests, with Chromium behind it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gatecam.model import Clock
from gatecam.sources.base import ListingTools
from gatecam.sources.draydog.discovery import ReplayLister
from gatecam.sources.draydog.site import DrayDogSite

if TYPE_CHECKING:
    from gatecam.sources.draydog.browser import CameraPageBrowser


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
