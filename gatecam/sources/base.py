"""What every camera source hands to the job: image references, listings, and the protocol."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from gatecam.errors import InputError

# Terminal and stream names become path parts, URL parts and String(64) columns. A first
# letter or digit keeps folders named `-` or `_` (and option-like names) out of the archive.
NAME_MAX = 64
NAME_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{NAME_MAX - 1}}}")
NAME_RULE = f"1 to {NAME_MAX} of a-z, 0-9, _ and -, starting with a letter or digit"


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a valid terminal or stream name, or None if it is one."""
    if NAME_PATTERN.fullmatch(value):
        return None
    if len(value) > NAME_MAX:
        return f"{value[:20]!r}... is {len(value)} characters long (at most {NAME_MAX})"
    return f"{value!r} is not a valid name ({NAME_RULE})"


def check_name(value: str, setting: str) -> str:
    """Return ``value`` if it is a safe terminal or stream name, else raise InputError."""
    problem = name_problem(value)
    if problem:
        raise InputError(f"{setting}: {problem}")
    return value


@dataclass(frozen=True, order=True)
class ImageRef:
    """One image of one stream: the (terminal, stream, timestamp) triple identifies it.

    ``timestamp`` is always timezone-aware UTC.
    """

    terminal: str
    stream: str
    timestamp: datetime


@dataclass
class Listing:
    """The images a source lists for one stream and UTC day, and which strategy found them.

    ``found_by`` maps a strategy name (``"dom"``, ``"network"``, ...) to how many distinct
    images of the day it found, so a run can record why discovery saw what it saw.
    """

    refs: list[ImageRef] = field(default_factory=list)
    found_by: dict[str, int] = field(default_factory=dict)


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
