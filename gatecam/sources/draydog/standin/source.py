"""A camera source listed straight from a stand-in's catalogue: the job without a browser.

It answers what the camera page would show, so the job's handling of a listing (catch-up,
faults, retention, outcomes) runs in-process and in milliseconds; the images still come over
HTTP from the stand-in's CDN. Discovery itself is tested on the real page, in Chromium. It
plays the part APScheduler's MemoryJobStore plays there: a real, small implementation of the
protocol that ships with the package.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from gatecam.model import ImageRef, check_name
from gatecam.sources.base import Listing, ListingTools
from gatecam.sources.draydog.standin.server import StandIn


@dataclass
class CatalogueProbe:
    """What `gatecam probe` shows for a catalogue: how many images it lists for the day."""

    terminal: str
    stream: str
    day: str
    images: int

    @property
    def ok(self) -> bool:
        return self.images > 0

    def lines(self) -> list[str]:
        verdict = "OK" if self.ok else "NO IMAGES"
        where = f"{self.terminal}/{self.stream}"
        return [f"{verdict}: {self.images} images of {self.day} in the catalogue of {where}"]


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

    @property
    def cadence(self) -> timedelta:
        return self.site.source.cadence

    def probe(self, terminal: str, stream: str, day: date, out_dir: Path) -> CatalogueProbe:
        """The catalogue's listing of the day, kept in ``out_dir/report.json``."""
        check_name(terminal, "terminal")
        check_name(stream, "stream")
        report = CatalogueProbe(
            terminal, stream, day.isoformat(), len(self.site.catalogue.list(terminal, stream, day))
        )
        (out_dir / "report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
        return report
