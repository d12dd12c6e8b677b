"""Discovery on every harder stand-in page, alone and all together, in real Chromium.

Each variant's day holds 60 images; all 60 must be listed, and a pass over a day whose
images are all known must not make the CDN serve more than 2 thumbnails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.downloader.scheduler import DownloadConfig, ImageDownloadScheduler
from gatecam.model import ImageRef
from gatecam.sources.draydog.browser import CameraPageBrowser
from gatecam.sources.draydog.standin import VARIANTS, Catalogue, StandIn

pytestmark = pytest.mark.browser

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
TODAY = NOW.date()
PAST = date(2025, 8, 30)
PER_DAY = 60
EVERY_VARIANT = [*VARIANTS, "all"]


def sixty_a_day(catalogue: Catalogue, day: date) -> None:
    """60 images from 00:05 to 19:55 UTC, irregular seconds; all before NOW on TODAY."""
    start = datetime(day.year, day.month, day.day, 0, 5, tzinfo=UTC)
    for n in range(PER_DAY):
        catalogue.add("apm", "in_gate", start + timedelta(minutes=20 * n, seconds=7 * n % 60))


def expected(site: StandIn, day: date) -> list[ImageRef]:
    return [
        ImageRef("apm", "in_gate", ts) for ts in sorted(site.catalogue.list("apm", "in_gate", day))
    ]


@pytest.fixture(scope="module")
def site() -> Iterator[StandIn]:
    catalogue = Catalogue(clock=lambda: NOW, scheduled=False)
    # The neighbouring days hold images too: a listing must keep only its UTC day.
    for day in (PAST - timedelta(days=1), PAST, PAST + timedelta(days=1), TODAY):
        sixty_a_day(catalogue, day)
    with StandIn(catalogue=catalogue) as standin:
        yield standin


@pytest.fixture(scope="module")
def browser(site: StandIn) -> Iterator[CameraPageBrowser]:
    with CameraPageBrowser(site.source, timeout=30, clock=lambda: NOW) as opened:
        yield opened


@pytest.mark.parametrize("variant", EVERY_VARIANT)
def test_today_lists_all_60(site: StandIn, browser: CameraPageBrowser, variant: str) -> None:
    site.set_variants([variant])
    before = site.thumbnail_requests
    listing = browser.list_images("apm", "in_gate", TODAY)
    assert listing.refs == expected(site, TODAY)
    assert len(listing.refs) == PER_DAY
    assert max(listing.found_by.values()) == PER_DAY
    # Thumbnails are seen, never downloaded.
    assert site.thumbnail_requests == before
    assert browser.launches == 1


@pytest.mark.parametrize("variant", ["all", "paged", "loadmore"])
def test_an_idle_pass_fetches_at_most_2_thumbnails(
    site: StandIn, browser: CameraPageBrowser, variant: str
) -> None:
    site.set_variants([variant])
    before = site.thumbnail_requests
    listing = browser.list_images("apm", "in_gate", TODAY)
    known = frozenset(ref.timestamp for ref in listing.refs)
    idle = browser.list_images("apm", "in_gate", TODAY, known=known)
    # Paging may stop at known images, but the newest ones are always looked at.
    assert set(idle.refs) <= set(listing.refs)
    assert listing.refs[-1] in idle.refs
    assert site.thumbnail_requests - before <= 2
    assert browser.launches == 1


@pytest.mark.parametrize("variant", ["all", "pacific", "element-plus"])
def test_a_past_day_lists_all_60(site: StandIn, browser: CameraPageBrowser, variant: str) -> None:
    site.set_variants([variant])
    listing = browser.list_images("apm", "in_gate", PAST)
    assert listing.refs == expected(site, PAST)
    assert len(listing.refs) == PER_DAY


def test_strategies_say_what_found_the_images(site: StandIn, browser: CameraPageBrowser) -> None:
    site.set_variants(["json"])
    canvas = browser.list_images("apm", "in_gate", PAST)
    # Nothing in the DOM names an image: the page's own JSON and requests found them.
    assert canvas.found_by == {"dom": 0, "requests": PER_DAY, "json": PER_DAY}
    site.set_variants(["lazy"])
    lazy = browser.list_images("apm", "in_gate", PAST)
    # Scrolled into view one step at a time, every lazy thumbnail got its src.
    assert lazy.found_by["dom"] == PER_DAY


def test_the_job_archives_all_60_of_every_variant_together(site: StandIn, tmp_path: Path) -> None:
    site.set_variants(["all"])
    scheduler = ImageDownloadScheduler(
        DownloadConfig(
            stream_names=["in_gate"],
            terminal="apm",
            download_dir=str(tmp_path / "images"),
            database_url=f"sqlite:///{tmp_path}/gatecam.db",
            app_url=site.app_url,
            cdn_url=site.cdn_url,
            timezone="UTC",  # one UTC date of the site, its 60 images
        )
    )
    # Playwright's sync API runs one instance per thread, and this module's browser is open.
    worker = threading.Thread(target=scheduler.run_once, args=(PAST,))
    try:
        worker.start()
        worker.join(120)
        assert scheduler.get_stats()["total_downloaded"] == PER_DAY
    finally:
        scheduler.stop()
    files = sorted((tmp_path / "images" / "apm" / "in_gate" / PAST.isoformat()).glob("*.jpg"))
    assert [f.stem for f in files] == [f"{r.timestamp:%H%M%S}" for r in expected(site, PAST)]
