"""What every camera source hands to the job: listings, and the protocol a site implements."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from gatecam.model import ImageRef


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


class Lister(Protocol):
    """An open discovery session (one browser), reused for every stream and day of a tick."""

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        """Every image of the UTC ``day``; raises DiscoveryError with a one-line cause.

        ``known`` holds timestamps already archived: a paged listing may stop once it
        reaches them (today's steady-state pass), but must never stop before.
        """
        ...


class Source(Protocol):
    """A camera site: how to list what exists and where each image is fetched from."""

    def lister(self) -> AbstractContextManager[Lister]: ...

    def image_url(self, ref: ImageRef, *, thumbnail: bool = False) -> str: ...

    def parse_image_url(self, url: str) -> ImageRef | None: ...
