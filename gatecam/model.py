"""The domain's own types, on the ground floor: every other layer imports them, they import none.

A terminal and a stream name become path parts, URL parts and database keys, so they are
checked once, here, and a ``Target`` or ``ImageRef`` built from them is known to be safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from gatecam.errors import InputError

NAME_PATTERN = re.compile(r"[a-z0-9_-]+")


NAME_RULE = "only a-z, 0-9, _ and -"


def is_name(value: str) -> bool:
    """True if ``value`` is a safe terminal or stream name."""
    return NAME_PATTERN.fullmatch(value) is not None


def check_name(value: str, setting: str) -> str:
    """Return ``value`` if it is a safe terminal or stream name, else raise InputError."""
    if not is_name(value):
        raise InputError(f"{setting}: {value!r} is not a valid name ({NAME_RULE})")
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
