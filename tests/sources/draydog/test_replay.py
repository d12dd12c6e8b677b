"""Replay over plain HTTP against the stand-in: templates, paging, and answers it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from gatecam.database.engine import Database
from gatecam.database.recipes import RecipeStore
from gatecam.downloader.job import DownloadJob
from gatecam.model import ImageRef, Recipe
from gatecam.settings import DownloadConfig
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.network import DataRequest
from gatecam.sources.draydog.replay import Replayer, ReplayError, disagreement, learn
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.storage import LocalStore

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
DAY = date(2025, 8, 30)


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(clock=lambda: NOW)) as standin:
        yield standin


@pytest.fixture
def replayer(site: StandIn) -> Iterator[Replayer]:
    with httpx.Client(timeout=10) as client:
        yield Replayer(site.source, client)


def seen_by_page(site: StandIn, query: str, headers: dict[str, str] | None = None) -> DataRequest:
    """The request the camera page made for in_gate on DAY, with the addresses it got."""
    url = f"{site.url}/api/history?terminal=apm&stream=in_gate&date={DAY}{query}"
    answer = httpx.get(url, headers=headers).json()
    urls = tuple(i["thumbnail"] for i in answer["images"])
    return DataRequest("GET", url, {"user-agent": "Chromium", **(headers or {})}, None, urls)


def catalogue(site: StandIn, stream: str, day: date) -> set[ImageRef]:
    return {ImageRef("apm", stream, ts) for ts in site.catalogue.list("apm", stream, day)}


def test_a_learned_request_lists_any_stream_and_day_following_page_numbers(
    site: StandIn, replayer: Replayer
) -> None:
    site.set_variants(["paged"])
    recipe = learn(site.source, [seen_by_page(site, "&page=1&size=20")], "apm", "in_gate", DAY)
    assert recipe is not None
    assert recipe.url_template == (
        f"{site.url}/api/history?terminal={{terminal}}&stream={{stream}}&date={{day}}"
        "&page={page}&size=20"
    )
    # Headers every client sets itself are not part of the recipe.
    assert recipe.headers == {}
    other = date(2025, 8, 28)
    replayed = replayer.list_day(recipe, "out_gate", other, today=NOW.date())
    assert replayed.refs == catalogue(site, "out_gate", other)
    assert replayed.requests == len(replayed.refs) // 20 + 2  # pages, and the empty one after


def test_replay_follows_next_links_and_stops_at_known_images(
    site: StandIn, replayer: Replayer
) -> None:
    site.set_variants(["cursor"])
    recipe = learn(site.source, [seen_by_page(site, "")], "apm", "in_gate", DAY)
    assert recipe is not None
    full = replayer.list_day(recipe, "in_gate", DAY, today=NOW.date())
    assert full.refs == catalogue(site, "in_gate", DAY)
    assert full.requests > 10
    known = frozenset(ref.timestamp for ref in full.refs)
    idle = replayer.list_day(recipe, "in_gate", DAY, today=NOW.date(), known=known)
    assert idle.requests == 1


@pytest.mark.parametrize(
    ("variant", "recipe_url", "cause"),
    [
        ("token", "/api/history?terminal={terminal}&stream={stream}&date={day}", "HTTP 401"),
        ("", "/terminal_cameras/{terminal}?streamName={stream}", r"non-JSON \(text/html"),
        ("", "/api/history?stream={stream}&terminal={terminal}&mode=foreign_url", "outside"),
    ],
)
def test_a_wrong_answer_is_refused_and_drops_the_recipe(
    site: StandIn, replayer: Replayer, variant: str, recipe_url: str, cause: str
) -> None:
    site.set_variants([variant] if variant else [])
    recipe = Recipe("apm", "GET", site.url + recipe_url, {"x-camera-token": "stale"})
    with pytest.raises(ReplayError, match=cause) as failed:
        replayer.list_day(recipe, "in_gate", NOW.date(), today=NOW.date())
    assert failed.value.drop


def test_not_found_leaves_it_to_the_browser_without_dropping_the_recipe(
    site: StandIn, replayer: Replayer
) -> None:
    recipe = Recipe("apm", "GET", site.url + "/api/cameras/{stream}/{day}")
    with pytest.raises(ReplayError, match="HTTP 404 for in_gate") as failed:
        replayer.list_day(recipe, "in_gate", DAY, today=NOW.date())
    assert not failed.value.drop


def test_a_recipe_without_the_day_answers_only_today(site: StandIn, replayer: Replayer) -> None:
    recipe = Recipe("apm", "GET", site.url + "/api/history?terminal={terminal}&stream={stream}")
    assert replayer.list_day(recipe, "in_gate", NOW.date(), today=NOW.date()).refs == catalogue(
        site, "in_gate", NOW.date()
    )
    with pytest.raises(ReplayError, match="current day only") as unfit:
        replayer.list_day(recipe, "in_gate", DAY, today=NOW.date())
    assert not unfit.value.drop


def test_images_published_since_the_browser_looked_are_no_disagreement(site: StandIn) -> None:
    day = sorted(catalogue(site, "in_gate", DAY))
    browser, later = set(day[:-1]), set(day)
    assert disagreement(browser, later) is None
    assert disagreement(set(day), set(day[10:])) == (
        f"replay missed 10 of the {len(day)} images the browser saw"
    )


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_a_pass_replays_every_stream_at_once_over_the_pool(
    database: Database, tmp_path: Path
) -> None:
    streams = [f"apm/cam{n}" for n in range(8)]
    few = Catalogue(clock=lambda: NOW, scheduled=False)
    for n in range(8):
        for hour, minute in ((0, 10), (12, 0), (23, 40)):
            few.add(
                "apm", f"cam{n}", datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=UTC)
            )
    with StandIn(catalogue=few, api_latency=0.2) as site:
        url = f"{site.url}/api/history?terminal={{terminal}}&stream={{stream}}&date={{day}}"
        RecipeStore(database).save(Recipe("apm", "GET", url))
        config = DownloadConfig(
            streams=streams,
            database_url=database.url,
            download_dir=tmp_path,
            app_url=site.app_url,
            cdn_url=site.cdn_url,
            # The counts below are of one UTC date's listing.
            timezone="UTC",
        )
        # No Chromium there: a listing that needed the browser would fail the run.
        source = DrayDogSource(site.app_url, site.cdn_url, chromium_path="/nonexistent/chromium")
        results = DownloadJob(config, database, source, LocalStore(tmp_path)).run(DAY)
        assert [r.found_by for r in results] == [{"replay": r.discovered} for r in results]
        assert all(r.ok and r.discovered == r.downloaded == 3 for r in results)
        # One request per stream-day, answered 8 at a time: the pool's size.
        assert site.api_requests == len(streams)
        assert site.api_peak == 8


def test_a_site_cutting_days_in_pacific_time_is_replayed_across_its_two_days(
    site: StandIn, replayer: Replayer
) -> None:
    site.set_variants(["pacific"])
    # The browser listed UTC DAY by picking the site's previous day, which holds its start.
    before = date(2025, 8, 29)
    url = f"{site.url}/api/history?terminal=apm&stream=in_gate&date={before}"
    urls = tuple(i["full"] for i in httpx.get(url).json()["images"])
    recipe = learn(site.source, [DataRequest("GET", url, {}, None, urls)], "apm", "in_gate", DAY)
    assert recipe is not None and recipe.dated
    replayed = replayer.list_day(recipe, "out_gate", DAY, today=NOW.date())
    assert replayed.refs == catalogue(site, "out_gate", DAY)
    assert replayed.requests == 2
