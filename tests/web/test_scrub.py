"""The day page's timeline slider, its marks and the grid's hours, in headless Chromium."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from playwright.sync_api import Page

from gatecam.database.engine import Database
from gatecam.database.missed import Miss, record_misses
from tests.fixtures_db import sqlite_only
from tests.web.browsing import browser, page
from tests.web.conftest import DAY, local

__all__ = ["browser", "page"]
pytestmark = [pytest.mark.browser, sqlite_only]


def shown(page: Page) -> str:
    return page.locator("#play-time").get_attribute("data-utc") or ""


def test_the_slider_moves_the_shown_time(
    page: Page, client: httpx.Client, archive: dict[datetime, int], database: Database
) -> None:
    with database.session_scope() as session:
        miss = Miss(local("14:22"), "https://cdn.example/x.jpg", "HTTP 404")
        record_misses(session, "apm", "in_gate", [miss], local("14:30"))
    page.goto(f"{client.base_url}{DAY}", wait_until="load")
    scrub = page.locator("input#scrub[type=range]")
    assert scrub.get_attribute("max") == str(24 * 3600)
    # Hour ticks, the gap of 14:02-14:49 and the missed 14:22 image on the track.
    assert page.locator("#scrub-hours option").count() == 24
    assert page.locator("svg.track line.tick").count() == 24
    assert page.locator("svg.track .gapmark").count() == 1
    assert page.locator("svg.track .missmark title").text_content() == "missed 14:22:00: HTTP 404"

    scrub.focus()
    page.keyboard.press("End")  # the end of the day: its last image
    assert shown(page) == f"{local('23:52'):%Y-%m-%d %H:%M:%S} UTC"
    page.keyboard.press("Home")
    assert shown(page) == f"{local('00:02'):%Y-%m-%d %H:%M:%S} UTC"
    for _ in range(10):  # ten minutes on: 00:12 is nearer than 00:02
        page.keyboard.press("ArrowRight")
    assert scrub.input_value() == "600"
    assert shown(page) == f"{local('00:12'):%Y-%m-%d %H:%M:%S} UTC"
    assert "00:12:00 -07:00" in page.locator("#play-time").inner_text()
    assert scrub.get_attribute("aria-valuetext") == "00:12:00 -07:00"
    src = page.locator("#play-image").get_attribute("src")
    assert src == f"/image/{archive[local('00:12')]}"
    # Stepping moves the slider along.
    page.click("#play-next")
    assert scrub.input_value() == str(22 * 60)


def test_the_grid_has_hour_headings_and_jump_links(
    page: Page, client: httpx.Client, archive: dict[datetime, int]
) -> None:
    page.goto(f"{client.base_url}{DAY}", wait_until="load")
    assert page.locator(".grid h3.hour").count() == 24
    page.click(".jump a[href='#hour-14']")
    page.wait_for_url("**#hour-14")
    heading = page.locator("#hour-14")
    assert heading.inner_text() == "14:00"
    top = heading.evaluate("h => h.getBoundingClientRect().top")
    assert 0 <= top < 100  # jumped to: at the top of the window
