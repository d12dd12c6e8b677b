"""The stand-in site in a process of its own, for bench/peers.py's download comparison.

Prints one JSON line (its URL, CDN URL and the image URLs of ``--count`` published images of
apm/in_gate), then serves until its standard input closes. Run by the bench, not by hand:
``python bench/peers_standin.py --latency 0.05 --count 300``.

Its own process, so that neither gatecam nor its peer shares a GIL with the site; every JPEG
is rendered before the line is printed and kept, so the clock measures waiting on the
network and not Pillow drawing a scene (~14 ms each; the stand-in's own cache holds 256).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

from download import STREAM, TERMINAL, published_timestamps

from gatecam.model import ImageRef
from gatecam.sources.draydog.standin import server
from gatecam.sources.draydog.standin.server import StandIn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    # Every image of the run kept rendered: the stand-in's 256-entry cache would miss on
    # every request of a 300-image sequence.
    server.render_jpeg = functools.cache(server.render_jpeg)  # type: ignore[assignment]
    with StandIn(latency=args.latency) as standin:
        timestamps = published_timestamps(standin, args.count)
        faults = standin.catalogue.camera_faults
        for ts in timestamps:
            server.render_jpeg(TERMINAL, STREAM, ts, thumbnail=False, faults=faults)
        urls = [standin.source.image_url(ImageRef(TERMINAL, STREAM, ts)) for ts in timestamps]
        line = {
            "app_url": standin.app_url,
            "cdn_url": standin.cdn_url,
            "timestamps": [ts.isoformat() for ts in timestamps],
            "urls": urls,
        }
        print(json.dumps(line), flush=True)
        sys.stdin.read()  # the bench closes our stdin when it is done
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
