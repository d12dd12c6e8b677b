"""The URLs pages and the API give for an image and its thumbnail: they carry the bytes' hash.

An image id alone does not name its bytes for ever: a database restored from a backup may
give an id to another image. So a URL names the id and the first hex digits of the sha256
(``?v=``); a browser may keep what such a URL answered for good, and one that cached an id
under another hash asks for a URL it has never seen.
"""

from __future__ import annotations

import re

# Enough of the hash to tell two images apart; short enough to keep URLs readable.
VERSION_DIGITS = 16
_SHA256 = re.compile(r"[0-9a-f]{64}")


def version(sha256: str | None) -> str | None:
    """The ``v`` an image with this sha256 is linked by; None for a row without a valid one."""
    if sha256 is None or _SHA256.fullmatch(sha256.lower()) is None:
        return None
    return sha256.lower()[:VERSION_DIGITS]


def image_url(image_id: int, sha256: str | None, *, thumb: bool = False) -> str:
    """Where the image (or its thumbnail) is served, with its ``v`` when it has one."""
    path = f"/image/{image_id}/thumb" if thumb else f"/image/{image_id}"
    v = version(sha256)
    return path if v is None else f"{path}?v={v}"
