"""What discovery costs per tick: browser launches, CDN requests and bytes, seconds per stream.

Against the in-process stand-in with 2 streams, first on the plain page, then with every
variant of issue 6 at once. Each setting runs a first pass (nothing known) and an idle pass
(every image of the day already archived), all in one Chromium, as the job does per tick.
Target: an idle pass downloads at most 2 thumbnails per stream.

Run from the repository root: ``.venv/bin/python bench/discovery.py``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from gatecam.sources.browser import CameraPageBrowser
from gatecam.standin import Catalogue, StandIn

STREAMS = ("in_gate", "out_gate")
TERMINAL = "apm"
MAX_IDLE_THUMBNAILS = 2


def measure(variants: list[str]) -> list[str]:
    now = datetime.now(UTC).replace(microsecond=0)
    catalogue = Catalogue(clock=lambda: now)
    rows: list[str] = []
    site = StandIn(catalogue=catalogue, variants=variants)
    with site, CameraPageBrowser(site.source, clock=lambda: now) as browser:
        for label in ("first pass", "idle pass"):
            requests, thumbs, sent = site.cdn_requests, site.thumbnail_requests, site.cdn_bytes
            for stream in STREAMS:
                today = now.date()
                known: frozenset[datetime] = frozenset()
                if label == "idle pass":
                    known = frozenset(catalogue.list(TERMINAL, stream, today))
                started = time.monotonic()
                listing = browser.list_images(TERMINAL, stream, today, known=known)
                seconds = time.monotonic() - started
                rows.append(
                    f"{'+'.join(variants) or 'plain':<6} {label:<10} {stream:<9}"
                    f" {len(listing.refs):>6} {seconds:>8.2f}"
                )
            thumbs = site.thumbnail_requests - thumbs
            verdict = "target met" if thumbs <= MAX_IDLE_THUMBNAILS else "TARGET MISSED"
            rows.append(
                f"{'':<6} {label:<10} {'(tick)':<9} launches {browser.launches}, "
                f"CDN requests {site.cdn_requests - requests} ({thumbs} thumbnails), "
                f"CDN bytes {site.cdn_bytes - sent}"
                + (f": {verdict}" if label == "idle pass" else "")
            )
    return rows


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print(f"{'page':<6} {'pass':<10} {'stream':<9} {'images':>6} {'seconds':>8}")
    for variants in ([], ["all"]):
        for row in measure(variants):
            print(row)


if __name__ == "__main__":
    main()
