"""What every camera source hands to the job: listings, and the protocol a site implements.

The job lends a source's lister what it may use (``ListingTools``): the pass's HTTP pool,
its worker count, its clock, and a ``RecipeBook`` to keep learned requests in. A site
therefore knows nothing of the database, and the job nothing of any site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx

from gatecam.model import Clock, ImageRef, Recipe, utc_now


@dataclass
class Listing:
    """The images a source lists for one stream and UTC day, and which strategy found them.

    ``found_by`` maps a strategy name (``"dom"``, ``"network"``, ...) to how many distinct
    images of the day it found, so a run can record why discovery saw what it saw.
    """

    refs: list[ImageRef] = field(default_factory=list)
    found_by: dict[str, int] = field(default_factory=dict)
    # Addresses of this stream's images on a host other than the configured CDN: never
    # fetched, but counted, so that a site whose CDN moved fails the run instead of
    # archiving nothing in silence.
    elsewhere: list[str] = field(default_factory=list)


class RecipeBook(Protocol):
    """Where learned listing requests are kept, one per terminal, shared by every instance."""

    def load(self, terminal: str) -> Recipe | None: ...

    def save(self, recipe: Recipe) -> None:
        """Keep ``recipe`` for its terminal, replacing whichever one was there."""
        ...

    def drop(self, recipe: Recipe) -> bool:
        """Forget ``recipe``, unless another has replaced it since; True if it was dropped."""
        ...

    def checked(self, recipe: Recipe, when: datetime) -> None:
        """Record that a browser listing agreed with ``recipe`` at ``when``."""
        ...


@dataclass(frozen=True)
class ListingTools:
    """What a pass lends its lister; each is opened by the job, and only on first use."""

    recipes: RecipeBook
    # The pass's pooled HTTP client (the downloader's), built when first called.
    client: Callable[[], httpx.Client]
    # How many requests the lister may have in flight at once (the pool's size).
    workers: int = 8
    clock: Clock = utc_now


class Lister(Protocol):
    """An open discovery session, reused for every stream and day of a tick."""

    def prefetch(self, wanted: Iterable[tuple[str, str, date]]) -> None:
        """Ask these (terminal, stream, day) listings ahead, all at once, if it can.

        A lister that lists each day on demand does nothing here.
        """
        ...

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        """Every image of the UTC ``day``; raises DiscoveryError with a one-line cause.

        ``known`` holds timestamps already archived: a paged listing may stop once it
        reaches them (today's steady-state pass), but must never stop before.
        """
        ...


class Diagnosis(Protocol):
    """What ``Source.probe`` found, for `gatecam probe` to print and judge."""

    @property
    def ok(self) -> bool:
        """Whether the site listed images and nothing failed."""
        ...

    def lines(self) -> list[str]:
        """A short human summary, one fact a line."""
        ...


class Source(Protocol):
    """A camera site: how to list what exists and where each image is fetched from."""

    @property
    def cadence(self) -> timedelta:
        """How often a camera of the site publishes an image: what coverage expects."""
        ...

    def probe(self, terminal: str, stream: str, day: date, out_dir: Path) -> Diagnosis:
        """List one stream-day once and keep what it saw in ``out_dir``, for a bug report.

        A failure of the site is recorded in the Diagnosis, never raised; bad names raise
        InputError.
        """
        ...

    def lister(self, tools: ListingTools) -> AbstractContextManager[Lister]:
        """The tick's Lister, to be used in a ``with`` block for a whole pass."""
        ...

    def image_url(self, ref: ImageRef, *, thumbnail: bool = False) -> str: ...

    def parse_image_url(self, url: str) -> ImageRef | None: ...
