"""The stand-in's variants: harder but plausible versions of the camera page and its API."""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

# Harder but plausible pages: same CDN and Element UI markup, different habits.
VARIANTS: dict[str, str] = {
    "longpoll": "a request the page keeps open, and the latest image refreshed every 3 s",
    "paged": "History paged 20 at a time with Element UI el-pagination (btn-next, li.number)",
    "loadmore": "History shows 20 images and a 'Load more' button for the next 20",
    "lazy": "thumbnails in a scroll box get their src only when seen (200 ms throttle)",
    "heading": "heading 'history (N)' in lower case with nested spans, images in hour groups",
    "element-plus": "Element Plus date picker: arrow buttons with aria-labels, no icon classes",
    "json": "no thumbnail in the DOM: drawn on canvases, URLs only in the page's JSON",
    "pacific": "the site cuts days in America/Los_Angeles, not UTC",
    "token": "the listing API needs a short-lived token the page first gets from /api/session",
    "embedded": "the day's list is embedded in the page's HTML: no JSON request at all",
    "cursor": "the listing JSON comes 7 images at a time with a 'next' link the page follows",
}
# What "all" turns into; every variant at once.
ALL_VARIANTS = "all"
PAGE_SIZE = 20
PACIFIC = ZoneInfo("America/Los_Angeles")
# How long the held-open request of the "longpoll" variant stays open.
LONG_POLL_SECONDS = 20.0
# Images per answer of the "cursor" variant, within the asked page.
CURSOR_SIZE = 7
# The header carrying the "token" variant's session token.
TOKEN_HEADER = "X-Camera-Token"


def parse_variants(names: Iterable[str]) -> frozenset[str]:
    """The variant set for ``names`` ("all" means every one); ValueError names an unknown one."""
    chosen: set[str] = set()
    for name in names:
        name = name.strip()
        if name == ALL_VARIANTS:
            chosen.update(VARIANTS)
        elif name in VARIANTS:
            chosen.add(name)
        elif name:
            known = ", ".join([*VARIANTS, ALL_VARIANTS])
            raise ValueError(f"unknown stand-in variant {name!r}; known: {known}")
    return frozenset(chosen)
