"""Headless Chromium: each stream's latest image comes first, and a day plays in place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.fixtures_db import sqlite_only
from tests.helpers import CHROMIUM_ARGS
from tests.web.conftest import DAY, IN_GATE, LA, OUT_GATE

pytestmark = [pytest.mark.browser, sqlite_only]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    yield page
    page.close()


def test_the_overview_shows_each_streams_latest_image_first(
    page: Page, client: httpx.Client, archive: dict[datetime, int]
) -> None:
    page.goto(f"{client.base_url}/?tz=UTC", wait_until="load")
    latest = page.locator("figure.latest img")
    assert latest.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.latest img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=15000,
    )
    # Above the stream's counts, linking to /at at the image's own moment.
    for stream, newest in (("in_gate", IN_GATE[-1]), ("out_gate", OUT_GATE[-1])):
        figure = page.locator(f"h3:has-text('apm / {stream}') + figure.latest")
        assert figure.locator("img").get_attribute("src") == f"/image/{archive[newest]}/thumb"
        href = figure.locator("a").get_attribute("href") or ""
        assert href.startswith("/at?") and f"stream={stream}" in href
        caption = figure.locator("figcaption").inner_text()
        assert f"{newest:%Y-%m-%d %H:%M:%S} +00:00" in caption and " ago)" in caption
        figure.locator("a").click()
        page.wait_for_url("**/at?**")
        assert f"{newest:%H:%M:%S} +00:00" in page.locator("p").first.inner_text()
        page.go_back()
    # One gap in the chart's week reads as one gap.
    assert "1 gap over 20 min" in page.content()


def shown(page: Page) -> str:
    return page.locator("#play-time").get_attribute("data-utc") or ""


def test_playing_a_day_steps_through_its_images_in_place(
    page: Page, client: httpx.Client, archive: dict[datetime, int]
) -> None:
    page.goto(f"{client.base_url}{DAY}", wait_until="load")
    assert page.locator("#play-image").count() == 0  # nothing loads before it is played

    page.keyboard.press("ArrowRight")  # the first step shows the day's first image
    first = shown(page)
    day_start = min(ts for ts in IN_GATE if ts.astimezone(LA).date() == date(2025, 9, 2))
    assert first == f"{day_start:%Y-%m-%d %H:%M:%S} UTC"

    page.click("#play-toggle")
    page.wait_for_function(
        "first => document.getElementById('play-time').dataset.utc > first", arg=first
    )
    second = shown(page)
    assert first < second  # playing moves forward in time
    page.wait_for_function(
        "() => { const i = document.getElementById('play-image');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert "(" in page.locator("#play-time").inner_text()  # "07:02:00 -07:00 (3/141)"

    page.keyboard.press(" ")  # pause
    paused = shown(page)
    page.keyboard.press("ArrowRight")
    after = shown(page)
    assert after > paused
    page.keyboard.press("ArrowLeft")
    assert shown(page) == paused
    # Each step shows the image of the time it names.
    src = page.locator("#play-image").get_attribute("src") or ""
    day_images = sorted(ts for ts in archive if ts.strftime("%Y-%m-%d %H:%M:%S UTC") == paused)
    assert src == f"/image/{archive[day_images[0]]}"


def test_the_days_timelapse_plays_in_place(
    page: Page, client: httpx.Client, archive: dict[datetime, int], tmp_path: Path
) -> None:
    page.goto(f"{client.base_url}{DAY}", wait_until="load")
    # Every text the progress line shows, as it shows it.
    page.evaluate(
        "() => { window.told = []; const note = document.getElementById('video-progress');"
        " new MutationObserver(() => window.told.push(note.textContent))"
        ".observe(note, {childList: true, characterData: true, subtree: true}); }"
    )

    page.click("#play-video")

    # Not kept yet: the page tells how far the encode is, then plays the kept file; its
    # clock runs, at the MP4's size.
    page.wait_for_function(
        "() => { const v = document.getElementById('play-video-el');"
        " return v && v.readyState >= 2 && v.currentTime > 0.5; }",
        timeout=60000,
    )
    size = page.eval_on_selector("#play-video-el", "v => [v.videoWidth, v.videoHeight]")
    assert size == [1280, 720]
    told: list[str] = page.evaluate("() => window.told")
    frames = len([ts for ts in IN_GATE if ts.astimezone(LA).date() == date(2025, 9, 2)])
    assert any(re.fullmatch(rf"encoding… \d+ of {frames} frames", t) for t in told), told
    assert page.locator("#video-progress").inner_text() == ""
    assert (tmp_path / "images" / ".timelapse" / "apm" / "in_gate" / "2025-09-02.mp4").is_file()
