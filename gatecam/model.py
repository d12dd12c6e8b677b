"""The domain's own types, on the ground floor: every other layer imports them, they import none.

A terminal and a stream name become path parts, URL parts and database keys, so they are
checked once, here, and a ``Target`` or ``ImageRef`` built from them is known to be safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple, TypeVar

from gatecam.errors import InputError

# Terminal and stream names become path parts, URL parts and String(64) columns. A first
# letter or digit keeps folders named `-` or `_` (and option-like names) out of the archive.
NAME_MAX = 64
NAME_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{NAME_MAX - 1}}}")
NAME_RULE = f"1 to {NAME_MAX} of a-z, 0-9, _ and -, starting with a letter or digit"

# What "now" is for a job, a lister or a downloader: aware UTC. Tests pass a fixed one.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: the current moment, aware UTC."""
    return datetime.now(UTC)


def is_name(value: str) -> bool:
    """True if ``value`` is a safe terminal or stream name."""
    return NAME_PATTERN.fullmatch(value) is not None


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a valid terminal or stream name, or None if it is one."""
    if is_name(value):
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


class Target(NamedTuple):
    """One (terminal, stream) pair: the unit a job archives and an instance claims."""

    terminal: str
    stream: str

    def __str__(self) -> str:
        return f"{self.terminal}/{self.stream}"


@dataclass(frozen=True, order=True)
class ImageRef:
    """One image of one stream: the (terminal, stream, timestamp) triple identifies it.

    ``timestamp`` is always timezone-aware UTC.
    """

    terminal: str
    stream: str
    timestamp: datetime

    @property
    def target(self) -> Target:
        return Target(self.terminal, self.stream)


@dataclass(frozen=True)
class Recipe:
    """A learned listing request to replay: method, URL (and body) templates, and headers.

    The templates hold ``{terminal}``, ``{stream}``, ``{day}`` and ``{page}`` markers; a
    template without ``{day}`` answers the site's current day only. One is kept per terminal.
    """

    terminal: str
    method: str
    url_template: str
    headers: dict[str, str] = field(default_factory=dict)
    body_template: str | None = None
    learned_at: datetime | None = None
    checked_at: datetime | None = None
    learned_by: str | None = None

    @property
    def dated(self) -> bool:
        return "{day}" in self.url_template or "{day}" in (self.body_template or "")

    @property
    def paged(self) -> bool:
        return "{page}" in self.url_template or "{page}" in (self.body_template or "")


class ImageRecord(NamedTuple):
    """The metadata of one image file, as the scheduler hands it to the database."""

    terminal: str
    camera_id: str
    filepath: str
    timestamp: datetime | None = None
    file_size: int | None = None
    sha256: str | None = None
    thumbnail: bool = False
    # Camera health figures (gatecam.camerahealth.Figures), when measured.
    dhash: str | None = None
    brightness: float | None = None
    contrast: float | None = None


T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
