"""A camera source listed straight from a stand-in's catalogue: the job without a browser.

It answers what the camera page would show, so the job's handling of a listing (catch-up,
faults, retention, outcomes) runs in-process and in milliseconds; the images still come over
HTTP from the stand-in's CDN. Discovery itself is tested on the real page, in Chromium. It
plays the part APScheduler's MemoryJobStore plays there: a real, small implementation of the
protocol that ships with the package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from gatecam.model import ImageRef
from gatecam.sources.base import Listing, ListingTools
from gatecam.standin.server import StandIn


class CatalogueSource:
    """A Source whose listing is ``site``'s catalogue; counts how often it is opened."""

    def __init__(self, site: StandIn) -> None:
        self.site = site
        self.opened = 0
        self.listed: list[tuple[str, str, date]] = []

    @contextlib.contextmanager
    def lister(self, tools: ListingTools) -> Iterator[CatalogueSource]:
        """Itself: the catalogue answers at once, so it needs none of the pass's tools."""
        self.opened += 1
        yield self

    def prefetch(self, wanted: Iterable[tuple[str, str, date]]) -> None:
        """Nothing to ask ahead: each listing is read from the catalogue when asked."""

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        self.listed.append((terminal, stream, day))
        refs = [
            ImageRef(terminal, stream, ts) for ts in self.site.catalogue.list(terminal, stream, day)
        ]
        return Listing(refs=refs, found_by={"catalogue": len(refs)})

    def image_url(self, ref: ImageRef, *, thumbnail: bool = False) -> str:
        return self.site.source.image_url(ref, thumbnail=thumbnail)

    def parse_image_url(self, url: str) -> ImageRef | None:
        return self.site.source.parse_image_url(url)
