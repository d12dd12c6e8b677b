"""What every camera source hands to the downloader."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gatecam.errors import InputError

# Terminal and stream names become path parts and URL parts (issue 3, item 7).
NAME_PATTERN = re.compile(r"[a-z0-9_-]+")


def check_name(value: str, setting: str) -> str:
    """Return ``value`` if it is a safe terminal or stream name, else raise InputError."""
    if not NAME_PATTERN.fullmatch(value):
        raise InputError(f"{setting}: {value!r} is not a valid name (only a-z, 0-9, _ and -)")
    return value


@dataclass(frozen=True, order=True)
class ImageRef:
    """One image of one stream: the (terminal, stream, timestamp) triple identifies it.

    ``timestamp`` is always timezone-aware UTC.
    """

    terminal: str
    stream: str
    timestamp: datetime
