"""Discovery deciding between replay and the browser, in the real job with real Chromium."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun
from gatecam.database.recipes import RecipeStore
from gatecam.downloader.job import DownloadJob, RunResult
from gatecam.model import Clock
from gatecam.settings import DownloadConfig
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.browser import CameraPageBrowser
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.storage import LocalStore

pytestmark = pytest.mark.browser

PAST = datetime.now(UTC).date() - timedelta(days=2)
PER_DAY = 30


@dataclass(frozen=True)
class CountingSource(DrayDogSource):
    """Dray Dog's source, keeping every browser its listers open."""

    browsers: list[CameraPageBrowser] = field(default_factory=list, compare=False)

    def browser(self, clock: Clock | None = None) -> CameraPageBrowser:
        browser = super().browser(clock)
        self.browsers.append(browser)
        return browser

    @property
    def launches(self) -> int:
        return sum(browser.launches for browser in self.browsers)


@pytest.fixture
def site() -> Iterator[StandIn]:
    catalogue = Catalogue(scheduled=False)
    start = datetime(PAST.year, PAST.month, PAST.day, 0, 10, tzinfo=UTC)
    for stream in ("in_gate", "out_gate"):
        for n in range(PER_DAY):
            catalogue.add("apm", stream, start + timedelta(minutes=47 * n, seconds=11 * n % 60))
    # The hourly check would make a browser listing of its own if a test crossed the hour.
    now = datetime.now(UTC)
    while now.minute == 59 and now.second >= 30:
        time.sleep(0.5)
        now = datetime.now(UTC)
    with StandIn(catalogue=catalogue) as standin:
        yield standin


def make_job(
    db: Database, site: StandIn, folder: Path, streams: list[str]
) -> tuple[DownloadJob, CountingSource]:
    source = CountingSource(site.app_url, site.cdn_url)
    config = DownloadConfig(
        streams=streams,
        database_url=db.url,
        download_dir=folder,
        app_url=site.app_url,
        cdn_url=site.cdn_url,
        # The counts below are of one UTC date's listing.
        timezone="UTC",
    )
    return DownloadJob(config, db, source, LocalStore(folder)), source


def stored(folder: Path, stream: str) -> int:
    return len(list((folder / "apm" / stream / PAST.isoformat()).glob("*.jpg")))


def new_image(site: StandIn, stream: str, minute: int) -> None:
    site.catalogue.add(
        "apm", stream, datetime(PAST.year, PAST.month, PAST.day, 23, minute, 30, tzinfo=UTC)
    )


def last_found_by(db: Database, stream: str) -> dict[str, int]:
    with db.session_scope() as session:
        run = session.scalars(
            select(DownloadRun)
            .where(DownloadRun.camera_id == stream)
            .order_by(DownloadRun.id.desc())
        ).first()
        assert run is not None and run.found_by is not None
        found: dict[str, int] = json.loads(run.found_by)
        return found


def ok(results: list[RunResult]) -> bool:
    return all(r.ok and r.error is None for r in results)


sqlite_only = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_second_pass_replays_with_no_browser(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    job, source = make_job(database, site, tmp_path, ["apm/in_gate", "apm/out_gate"])
    assert ok(job.run(PAST))
    assert source.launches == 1
    # The first stream's browser listing taught the terminal's recipe to the second.
    assert last_found_by(database, "out_gate") == {"replay": PER_DAY}
    new_image(site, "in_gate", 52)
    new_image(site, "out_gate", 53)

    assert ok(job.run(PAST))

    assert source.launches == 1
    assert stored(tmp_path, "in_gate") == stored(tmp_path, "out_gate") == PER_DAY + 1
    assert last_found_by(database, "in_gate") == {"replay": PER_DAY + 1}


@sqlite_only
def test_an_expired_token_is_learned_again_in_the_same_run(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    site.set_variants(["token"])
    job, source = make_job(database, site, tmp_path, ["apm/in_gate"])
    assert ok(job.run(PAST))
    first = RecipeStore(database).load("apm")
    assert first is not None and first.headers["x-camera-token"]
    site.expire_tokens()
    new_image(site, "in_gate", 52)

    assert ok(job.run(PAST))

    # Replay was refused, the browser listed the day and a fresh visit renewed the token.
    assert stored(tmp_path, "in_gate") == PER_DAY + 1
    assert last_found_by(database, "in_gate")["fallback: replay answered HTTP 401"] == 1
    renewed = RecipeStore(database).load("apm")
    assert renewed is not None
    assert renewed.headers["x-camera-token"] != first.headers["x-camera-token"]
    launches = source.launches
    assert ok(job.run(PAST))
    assert source.launches == launches
    assert last_found_by(database, "in_gate") == {"replay": PER_DAY + 1}


@sqlite_only
def test_a_list_embedded_in_the_page_keeps_using_the_browser(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    site.set_variants(["embedded"])
    job, source = make_job(database, site, tmp_path, ["apm/in_gate"])
    for _ in range(2):
        assert ok(job.run(PAST))
    assert source.launches == 2
    assert stored(tmp_path, "in_gate") == PER_DAY
    found_by = last_found_by(database, "in_gate")
    assert found_by["dom"] == PER_DAY and found_by["json"] == 0
    assert found_by["not replayable: the page's list never came as JSON"] == 1
    assert RecipeStore(database).all() == []


@sqlite_only
def test_the_hourly_check_catches_replay_disagreeing_with_the_browser(
    database: Database, site: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job, source = make_job(database, site, tmp_path, ["apm/in_gate"])
    assert ok(job.run(PAST))
    recipes = RecipeStore(database)
    recipe = recipes.load("apm")
    assert recipe is not None
    # Last checked in an earlier hour; now the API answers 200 with half the day.
    recipes.checked(recipe, datetime.now(UTC) - timedelta(hours=1, minutes=1))
    site.inject("short_listing", match="/api/history", times=1)
    new_image(site, "in_gate", 52)

    with caplog.at_level(logging.WARNING, logger="gatecam.sources.draydog.discovery"):
        assert ok(job.run(PAST))

    assert source.launches == 2
    assert stored(tmp_path, "in_gate") == PER_DAY + 1
    cause = f"replay missed {(PER_DAY + 1) - (PER_DAY + 1) // 2} of the {PER_DAY + 1} images"
    assert cause in caplog.text and "recipe dropped" in caplog.text
    found_by = last_found_by(database, "in_gate")
    assert any(key.startswith(f"fallback: check: {cause}") for key in found_by)
    assert found_by["replay"] == (PER_DAY + 1) // 2
    # The browser's own request, replayed again, agrees: the recipe is learned afresh.
    relearned = recipes.load("apm")
    assert relearned is not None and relearned.checked_at is not None
    assert relearned.checked_at > datetime.now(UTC) - timedelta(minutes=5)


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_instances_share_one_recipe_through_postgresql(
    database_url: str, site: StandIn, tmp_path: Path
) -> None:
    first_db, second_db = Database(database_url), Database(database_url)
    try:
        first, first_source = make_job(first_db, site, tmp_path / "a", ["apm/in_gate"])
        second, second_source = make_job(second_db, site, tmp_path / "b", ["apm/out_gate"])
        assert ok(first.run(PAST))
        assert ok(second.run(PAST))
        assert (first_source.launches, second_source.launches) == (1, 0)
        assert stored(tmp_path / "b", "out_gate") == PER_DAY
        assert last_found_by(second_db, "out_gate") == {"replay": PER_DAY}
    finally:
        first_db.dispose()
        second_db.dispose()


@sqlite_only
def test_a_day_with_no_image_yet_takes_the_browser_once_per_terminal(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    streams = ["apm/in_gate", "apm/out_gate", "apm/gate3"]
    # A third camera of the terminal, with a day of images like the other two.
    for ts in site.catalogue.list("apm", "in_gate", PAST):
        site.catalogue.add("apm", "gate3", ts)
    job, _ = make_job(database, site, tmp_path, streams)
    assert ok(job.run(PAST))
    # The next day holds nothing yet, as every day does for its first minutes.
    empty = PAST + timedelta(days=1)

    results = job.run(empty)

    assert ok(results) and [r.discovered for r in results] == [0, 0, 0]
    first, *others = [last_found_by(database, s.split("/")[1]) for s in streams]
    # The browser confirmed the first empty answer; the others are believed.
    assert first["dom"] == 0 and first["fallback: replay listed no image of " + str(empty)] == 1
    assert others == [{"replay": 0}, {"replay": 0}]
    assert RecipeStore(database).load("apm") is not None
