"""What discovery costs per tick: browser against replay, 100 streams, and every variant.

Against the stand-in in a process of its own (as the real site is elsewhere: its answers
must not wait for this process's GIL) and a fresh SQLite archive, printed side by side:

1. one stream-day listed by the browser, then by replaying the learned request (plain page,
   and the paged and cursor variants whose JSON comes in parts);
2. 100 streams (2 terminals x 50) through the real job: the first tick (no recipe yet) and
   an idle tick (nothing new), with browser launches, and the peak memory of an idle tick
   run in a process of its own (the process and any children it started);
3. every stand-in variant, alone and all together: two passes of the job over one stream,
   images archived against the site's, and what listed the second pass (or why not replay).

Run from the repository root: ``.venv/bin/python bench/discovery.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
from sqlalchemy import select

from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.models import DownloadRun
from gatecam.database.recipes import RecipeStore
from gatecam.downloader.job import DownloadJob
from gatecam.model import Clock
from gatecam.settings import DownloadConfig
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.browser import CameraPageBrowser
from gatecam.sources.draydog.discovery import ReplayLister
from gatecam.sources.draydog.standin import VARIANTS, Catalogue, StandIn
from gatecam.storage import LocalStore

TERMINALS = ("apm", "fms")
STREAMS_PER_TERMINAL = 50
IMAGES_PER_STREAM = 6
REPLAY_MS = 50.0
FIRST_TICK_S = 120.0
IDLE_TICK_S = 10.0
IDLE_MB = 250.0
DAY = datetime.now(UTC).date() - timedelta(days=2)
# Every stream the bench lists is a camera of the stand-in, with its own day of images.
CAMERAS = frozenset({"in_gate", *(f"cam{n:02d}" for n in range(STREAMS_PER_TERMINAL))})


@contextmanager
def remote_site(
    variants: list[str], fill: Callable[[Catalogue], None] | None = None
) -> Iterator[SimpleNamespace]:
    """A stand-in serving from a forked process: its scheduled images, or those ``fill`` adds."""
    context = multiprocessing.get_context("fork")
    to_child: multiprocessing.Queue[str] = context.Queue()
    from_child: multiprocessing.Queue[str] = context.Queue()

    def run() -> None:
        catalogue = Catalogue(scheduled=fill is None, cameras=CAMERAS)
        if fill is not None:
            fill(catalogue)
        with StandIn(catalogue=catalogue, variants=variants) as site:
            from_child.put(site.url)
            to_child.get()  # any word from the bench stops the site

    child = context.Process(target=run, daemon=True)
    child.start()
    url = from_child.get(timeout=60)
    try:
        yield SimpleNamespace(
            url=url, app_url=url, cdn_url=url + "/cdn", source=DrayDogSource(url, url + "/cdn")
        )
    finally:
        to_child.put("stop")
        child.join(10)


def verdict(ok: bool) -> str:
    return "target met" if ok else "TARGET MISSED"


class Counting(DrayDogSource):
    """Counts the browsers the job's listers launch."""

    browsers: list[CameraPageBrowser] = []  # noqa: RUF012 -- one bench run, one list

    def browser(self, clock: Clock | None = None) -> CameraPageBrowser:
        browser = super().browser(clock)
        Counting.browsers.append(browser)
        return browser


def launches() -> int:
    return sum(b.launches for b in Counting.browsers)


def stream_day() -> list[str]:
    rows = []
    for variant in ("", "paged", "cursor"):
        folder = Path(tempfile.mkdtemp())
        db = Database(f"sqlite:///{folder}/gatecam.db")
        upgrade(db)
        with (
            remote_site([variant] if variant else []) as site,
            httpx.Client(timeout=30) as client,
            CameraPageBrowser(site.source) as browser,
        ):
            lister = ReplayLister(
                site.source,
                RecipeStore(db),
                browser=lambda: browser,
                client=lambda: client,
            )
            started = time.monotonic()
            first = lister.list_images("apm", "in_gate", DAY)
            browser_s = time.monotonic() - started
            times = []
            cpu = time.process_time()
            for n in range(20):
                started = time.monotonic()
                listing = lister.list_images("apm", f"cam{n:02d}", DAY)
                times.append((time.monotonic() - started) * 1000)
                assert "replay" in listing.found_by, listing.found_by
            cpu_ms = (time.process_time() - cpu) * 1000 / 20
            ms = statistics.median(times)
            rows.append(
                f"  {variant or 'plain':<8} {len(first.refs):>4} images: "
                f"browser {browser_s:5.2f} s, replay median {ms:5.1f} ms, "
                f"max {max(times):5.1f} ms, CPU {cpu_ms:4.1f} ms "
                f"(target <= {REPLAY_MS:g} ms: {verdict(ms <= REPLAY_MS)})"
            )
        db.dispose()
    return rows


def many_streams_config(folder: Path, app_url: str) -> DownloadConfig:
    streams = [f"{t}/cam{n:02d}" for t in TERMINALS for n in range(STREAMS_PER_TERMINAL)]
    return DownloadConfig(
        streams=streams,
        database_url=f"sqlite:///{folder}/gatecam.db",
        download_dir=folder / "images",
        app_url=app_url,
        cdn_url=app_url + "/cdn",
    )


def tick(config: DownloadConfig, day: date) -> tuple[float, int, int]:
    db = Database(config.database_url)
    try:
        job = DownloadJob(
            config,
            db,
            Counting(config.app_url, config.cdn_url),
            LocalStore(config.download_dir),
        )
        before = launches()
        started = time.monotonic()
        results = job.run(day)
        seconds = time.monotonic() - started
        assert all(r.ok for r in results), [r.summary() for r in results if not r.ok]
        return seconds, launches() - before, sum(r.downloaded for r in results)
    finally:
        db.dispose()


def a_few_each(catalogue: Catalogue) -> None:
    start = datetime(DAY.year, DAY.month, DAY.day, 0, 7, tzinfo=UTC)
    for terminal in TERMINALS:
        for n in range(STREAMS_PER_TERMINAL):
            for k in range(IMAGES_PER_STREAM):
                when = start + timedelta(minutes=280 * k + n % 30, seconds=k * 7)
                catalogue.add(terminal, f"cam{n:02d}", when)


def thirty(catalogue: Catalogue) -> None:
    start = datetime(DAY.year, DAY.month, DAY.day, 0, 10, tzinfo=UTC)
    for n in range(30):
        catalogue.add("apm", "in_gate", start + timedelta(minutes=47 * n, seconds=n))


def many_streams() -> list[str]:
    folder = Path(tempfile.mkdtemp())
    count = len(TERMINALS) * STREAMS_PER_TERMINAL
    rows = []
    with remote_site([], a_few_each) as site:
        config = many_streams_config(folder, site.app_url)
        upgrade(db := Database(config.database_url))
        db.dispose()
        first_s, first_launches, stored = tick(config, DAY)
        rows.append(
            f"  first tick: {first_s:6.1f} s, {first_launches} browser launch(es), "
            f"{stored} images stored (target <= {FIRST_TICK_S:g} s: "
            f"{verdict(first_s <= FIRST_TICK_S)})"
        )
        idle_s, idle_launches, _ = tick(config, DAY)
        rows.append(
            f"  idle tick:  {idle_s:6.1f} s, {idle_launches} browser launch(es) "
            f"(target <= {IDLE_TICK_S:g} s and 0 launches: "
            f"{verdict(idle_s <= IDLE_TICK_S and idle_launches == 0)})"
        )
        # A tick that needs no browser, in a process of its own so its peak is its own.
        child = subprocess.run(
            [sys.executable, __file__, "--idle-tick", site.app_url, str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        mb = measured["peak_mb"]
        rows.append(
            f"  idle tick in its own process: {measured['seconds']:.1f} s, "
            f"{measured['launches']} launches, peak {mb:.0f} MB "
            f"(target <= {IDLE_MB:g} MB: {verdict(mb <= IDLE_MB and measured['launches'] == 0)})"
        )
    return [f"{count} streams, {IMAGES_PER_STREAM} images each, {DAY}:", *rows]


def idle_tick(app_url: str, folder: Path) -> None:
    config = many_streams_config(folder, app_url)
    seconds, launched, _ = tick(config, DAY)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak = (own + children) / 1024
    print(json.dumps({"seconds": seconds, "launches": launched, "peak_mb": peak}))


def variants() -> list[str]:
    rows = []
    together = [v for v in VARIANTS if v != "embedded"]
    for variant in [*VARIANTS, "all", "+".join(together)]:
        folder = Path(tempfile.mkdtemp())
        with remote_site(variant.split("+"), thirty) as site:
            config = DownloadConfig(
                streams=["apm/in_gate"],
                database_url=f"sqlite:///{folder}/gatecam.db",
                download_dir=folder / "images",
                app_url=site.app_url,
                cdn_url=site.cdn_url,
            )
            upgrade(db := Database(config.database_url))
            db.dispose()
            first_s, first_launches, _ = tick(config, DAY)
            late = datetime(DAY.year, DAY.month, DAY.day, 23, 40, tzinfo=UTC).isoformat()
            added = {"terminal": "apm", "stream": "in_gate", "timestamp": late}
            httpx.post(f"{site.url}/_standin/images", json=added).raise_for_status()
            second_s, second_launches, _ = tick(config, DAY)
            db = Database(config.database_url)
            with db.session_scope() as session:
                run = session.scalars(select(DownloadRun).order_by(DownloadRun.id.desc())).first()
                found_by = json.loads(run.found_by or "{}") if run else {}
            db.dispose()
            held = len(list((folder / "images" / "apm" / "in_gate" / str(DAY)).glob("*.jpg")))
            thumbnails = httpx.get(f"{site.url}/_standin/requests").json()["thumbnail_requests"]
            query = {"terminal": "apm", "stream": "in_gate", "date": str(DAY)}
            expected = len(
                httpx.get(f"{site.url}/_standin/images", params=query).json()["timestamps"]
            )
            label = variant if "+" not in variant else "all but embedded"
            notes = "; ".join(k for k in found_by if not k.isalpha())
            if "replay" in found_by and len(found_by) == 1:
                how = f"replay {found_by['replay']}"
            elif "replay" in found_by:
                how = "the hourly check (browser and replay) " + (notes or "agreed")
            else:
                how = "browser" + (f": {notes}" if notes else "")
            rows.append(
                f"  {label:<16} {held}/{expected} archived ({verdict(held == expected)}); "
                f"passes {first_s:5.1f} s / {second_s:5.1f} s, launches "
                f"{first_launches}/{second_launches}, thumbnails fetched {thumbnails}; "
                f"second pass: {how}"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-tick", nargs=2, metavar=("APP_URL", "FOLDER"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.idle_tick:
        idle_tick(args.idle_tick[0], Path(args.idle_tick[1]))
        return
    print("One stream-day, browser then replay (20 other streams):")
    for row in stream_day():
        print(row)
    for row in many_streams():
        print(row)
    print("Every variant, two passes of the job over one stream with replay on:")
    for row in variants():
        print(row)


if __name__ == "__main__":
    main()
