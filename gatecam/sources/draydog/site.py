"""The Dray Dog site's addresses: camera pages and CDN, and strict parsing of CDN URLs.

What the site does: the camera page lists images (script-rendered), the CDN serves
``<cdn>/<terminal>/<YYYY-MM-DD>/<H>/<YYYY-MM-DDTHH:MM:SS>-<stream>.jpeg`` with ``<H>`` not
zero-padded, and ``-thumbnail.jpeg`` for the thumbnail. Timestamps are UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from gatecam.model import ImageRef, check_name

_CDN_PATH = re.compile(
    r"/(?P<terminal>[a-z0-9_-]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<hour>\d{1,2})/"
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})-(?P<stream>[a-z0-9_-]+?)"
    r"(?P<thumb>-thumbnail)?\.jpeg",
    re.ASCII,  # \d would otherwise accept non-ASCII digits such as "٢٠٢٥"
)
# A camera publishes an image every 8 to 12 minutes.
CADENCE = timedelta(minutes=10)
# The same layout at the end of an address on any host, under any prefix.
_IMAGE_TAIL = re.compile(_CDN_PATH.pattern + "$", re.ASCII)


@dataclass(frozen=True)
class DrayDogSite:
    """Addresses of the Dray Dog camera page and CDN for configurable base URLs.

    The browser, replay and probe read the site through this; DrayDogSource adds the
    listing (gatecam.sources.draydog.source).
    """

    app_url: str = "https://app.draydog.com"
    cdn_url: str = "https://cdn.draydog.com"
    chromium_path: str = "/usr/bin/chromium"
    # How long the camera page may take to show its History section.
    page_timeout: float = 30.0

    @property
    def cadence(self) -> timedelta:
        return CADENCE

    def camera_page_url(self, terminal: str, stream: str) -> str:
        check_name(terminal, "terminal")
        check_name(stream, "stream")
        return f"{self.app_url.rstrip('/')}/terminal_cameras/{terminal}?streamName={quote(stream)}"

    def image_url(self, ref: ImageRef, *, thumbnail: bool = False) -> str:
        ts = ref.timestamp.astimezone(UTC)
        suffix = "-thumbnail.jpeg" if thumbnail else ".jpeg"
        return (
            f"{self.cdn_url.rstrip('/')}/{ref.terminal}/{ts:%Y-%m-%d}/{ts.hour}/"
            f"{ts:%Y-%m-%dT%H:%M:%S}-{ref.stream}{suffix}"
        )

    def parse_image_url(self, url: str) -> ImageRef | None:
        """Return the image a CDN URL names, or None if it is not one of ours.

        A URL outside the configured CDN, or whose date, hour and timestamp do not agree,
        is rejected: it must never be fetched or written.
        """
        base = self.cdn_url.rstrip("/")
        if not url.startswith(base + "/"):
            return None
        path = url[len(base) :].split("?", 1)[0].split("#", 1)[0]
        return _ref(_CDN_PATH.fullmatch(path))

    def parse_image_url_anywhere(self, url: str) -> ImageRef | None:
        """The image a URL names by the CDN's layout on any host (never to be fetched).

        It tells a page whose images live on another CDN from a page without images.
        """
        return _ref(_IMAGE_TAIL.search(urlsplit(url).path))


def _ref(match: re.Match[str] | None) -> ImageRef | None:
    """The image of a CDN path match, or None if its date, hour and timestamp disagree."""
    if match is None:
        return None
    try:
        # The pattern already fixed the shape; fromisoformat checks the ranges, and is ten
        # times faster than strptime (replay parses every address of a day).
        ts = datetime.fromisoformat(match["ts"]).replace(tzinfo=UTC)
    except ValueError:
        return None
    if match["date"] != f"{ts:%Y-%m-%d}" or int(match["hour"]) != ts.hour:
        return None
    if match["hour"] != str(ts.hour):
        return None
    return ImageRef(terminal=match["terminal"], stream=match["stream"], timestamp=ts)
