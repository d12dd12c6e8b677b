"""Downloads beside curl and aria2: the same images, from the same stand-in, 8 at a time.

gatecam is ``DrayDogDownloader`` as bench/download.py drives it (into an empty temporary
folder: each image checked to be a complete JPEG, fsynced and renamed into place); curl is
``curl --parallel --parallel-immediate --parallel-max 8`` with one ``url``/``output`` pair
per image in a config file; aria2 is ``aria2c -j 8`` with an input file. Each writes into a
fresh folder each round. The limit is images x latency / 8: the stand-in's wait alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from peers_common import Line, load_average, median, missing

from gatecam.downloader import DrayDogDownloader
from gatecam.sources.draydog import DrayDogSource

IMAGES = 300
LATENCY = 0.05
CONCURRENCY = 8
ROUNDS = 5
TARGET_VS_CURL = 1.1
TERMINAL = "apm"
STREAM = "in_gate"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Site:
    app_url: str
    cdn_url: str
    timestamps: list[datetime]
    urls: list[str]


@contextmanager
def remote_standin(latency: float, count: int) -> Iterator[Site]:
    """bench/peers_standin.py in its own process, its images rendered; stopped after."""
    args = [sys.executable, str(HERE / "peers_standin.py"), "--latency", str(latency)]
    proc = subprocess.Popen(
        [*args, "--count", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the stand-in exited with {proc.wait()} before it served")
        found = json.loads(line)
        yield Site(
            found["app_url"],
            found["cdn_url"],
            [datetime.fromisoformat(ts) for ts in found["timestamps"]],
            found["urls"],
        )
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.jp*g") if p.is_file() and p.stat().st_size > 0)


def gatecam_download(site: Site, folder: Path) -> float:
    source = DrayDogSource(site.app_url, site.cdn_url)
    with DrayDogDownloader(
        folder, terminal=TERMINAL, source=source, concurrency=CONCURRENCY
    ) as downloader:
        start = time.perf_counter()
        result = downloader.download_images_direct(STREAM, site.timestamps)
        seconds = time.perf_counter() - start
    got = len(result.downloaded)
    assert got == len(site.timestamps), f"gatecam got {got} of {len(site.timestamps)}"
    return seconds


def curl_download(site: Site, folder: Path) -> float:
    config = folder / "urls.curl"
    config.write_text(
        "".join(
            f'url = "{url}"\noutput = "{folder / f"{n:04d}.jpeg"}"\n'
            for n, url in enumerate(site.urls)
        )
    )
    args = ["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(CONCURRENCY)]
    start = time.perf_counter()
    subprocess.run([*args, "--no-progress-meter", "--fail", "-K", str(config)], check=True)
    seconds = time.perf_counter() - start
    got = count_files(folder)
    assert got == len(site.urls), f"curl got {got} of {len(site.urls)}"
    return seconds


def aria2_download(site: Site, folder: Path) -> float:
    listing = folder / "urls.aria2"
    listing.write_text("".join(f"{url}\n  out={n:04d}.jpeg\n" for n, url in enumerate(site.urls)))
    args = [
        "aria2c", "-j", str(CONCURRENCY), "-i", str(listing), "--dir", str(folder),
        "--quiet=true", "--file-allocation=none", "--auto-file-renaming=false",
        "--max-connection-per-server=1", "--split=1", "--summary-interval=0",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(args, check=True)
    seconds = time.perf_counter() - start
    got = count_files(folder)
    assert got == len(site.urls), f"aria2 got {got} of {len(site.urls)}"
    return seconds


def in_fresh_folder(download: Callable[[Site, Path], float], site: Site) -> float:
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-peers-dl-") as tmp:
        return download(site, Path(tmp))


def compare_downloads(
    images: int = IMAGES, rounds: int = ROUNDS, latency: float = LATENCY
) -> list[Line | str]:
    """gatecam, curl and aria2 in turn, round after round; their medians as lines."""
    sides: dict[str, Callable[[Site, Path], float]] = {"gatecam": gatecam_download}
    out: list[Line | str] = []
    for tool, name, download in (
        ("curl", "curl", curl_download),
        ("aria2c", "aria2", aria2_download),
    ):
        skipped = missing(tool)
        if skipped:
            out.append(f"downloads vs {name}: {skipped}")
        else:
            sides[name] = download
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    started_load = load_average()
    with remote_standin(latency, images) as site:
        for download in sides.values():
            in_fresh_folder(download, site)  # warm-up: connections, imports, page cache
        for _ in range(rounds):
            for name, download in sides.items():
                seconds[name].append(in_fresh_folder(download, site))
    ours = median(seconds["gatecam"])
    out.append(
        f"  ({images} images, {latency * 1000:g} ms an answer, 8 at a time, {rounds} rounds; "
        f"load average {started_load:.1f} -> {load_average():.1f})"
    )
    if "curl" in seconds:
        out.append(Line("downloads vs curl", ours, median(seconds["curl"]), "s", TARGET_VS_CURL))
    if "aria2" in seconds:
        out.append(Line("downloads vs aria2", ours, median(seconds["aria2"]), "s"))
    limit = images * latency / CONCURRENCY
    out.append(Line(f"downloads vs the limit {images} x {latency:g} s / 8", ours, limit, "s"))
    return out
