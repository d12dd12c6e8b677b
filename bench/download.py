"""Downloading 200 images from the stand-in CDN when each answer takes 50 ms.

Target: ``DrayDogDownloader`` with its default concurrency (8) at least 8 times faster than
the same downloader fetching one image at a time (concurrency 1).

The stand-in runs in this process; its JPEGs are rendered once before timing so that the
clock measures waiting on the network, not Pillow drawing the scene (~14 ms each).

Run from the repository root: ``.venv/bin/python bench/download.py``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import datetime, timedelta

from gatecam.downloader import DrayDogDownloader
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.sources.draydog.standin.server import StandIn

IMAGES = 200
LATENCY = 0.05
TARGET_SPEEDUP = 8.0
DEFAULT_CONCURRENCY = 8
TERMINAL = "apm"
STREAM = "in_gate"


def published_timestamps(standin: StandIn, count: int) -> list[datetime]:
    """The newest ``count`` images of whole past days, so none is too young to be served."""
    catalogue = standin.catalogue
    day = catalogue.today()
    found: list[datetime] = []
    while len(found) < count:
        day -= timedelta(days=1)
        found.extend(catalogue.list(TERMINAL, STREAM, day))
    return found[:count]


def timed_download(standin: StandIn, timestamps: list[datetime], concurrency: int) -> float:
    """Seconds to download ``timestamps`` into a fresh, empty directory."""
    source = DrayDogSource(standin.app_url, standin.cdn_url)
    with (
        tempfile.TemporaryDirectory(prefix="gatecam-bench-images-") as tmp,
        DrayDogDownloader(
            tmp, terminal=TERMINAL, source=source, concurrency=concurrency
        ) as downloader,
    ):
        start = time.perf_counter()
        result = downloader.download_images_direct(STREAM, timestamps)
        seconds = time.perf_counter() - start
    got = len(result.downloaded)
    assert got == len(timestamps), f"downloaded {got} of {len(timestamps)}: {result.failed[:1]}"
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, default=LATENCY, help="seconds the stand-in waits per answer"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with StandIn(latency=args.latency) as standin:
        timestamps = published_timestamps(standin, IMAGES)
        for ts in timestamps:
            render_jpeg(TERMINAL, STREAM, ts, thumbnail=False)

        print(
            f"Downloading {IMAGES} images of {TERMINAL}/{STREAM} from the stand-in CDN, "
            f"{args.latency * 1000:.0f} ms per answer"
        )
        print(f"(ideal: {IMAGES * args.latency:.1f} s one by one, /N with N connections)")
        print()
        print(f"{'concurrency':>11} {'seconds':>8} {'images/s':>9} {'speed-up':>9}")
        baseline = timed_download(standin, timestamps, 1)
        print(f"{1:>11} {baseline:>8.2f} {IMAGES / baseline:>9.1f} {1.0:>8.1f}x")
        speedups: dict[int, float] = {}
        for concurrency in (DEFAULT_CONCURRENCY, 2 * DEFAULT_CONCURRENCY):
            seconds = timed_download(standin, timestamps, concurrency)
            speedups[concurrency] = baseline / seconds
            print(
                f"{concurrency:>11} {seconds:>8.2f} {IMAGES / seconds:>9.1f} "
                f"{speedups[concurrency]:>8.1f}x"
            )

    print()
    for concurrency, speedup in speedups.items():
        default = " (the default)" if concurrency == DEFAULT_CONCURRENCY else ""
        verdict = "target met" if speedup >= TARGET_SPEEDUP else "TARGET MISSED"
        print(
            f"concurrency {concurrency}{default}: {speedup:.2f}x faster than one by one, "
            f"target >= {TARGET_SPEEDUP:g}x: {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
