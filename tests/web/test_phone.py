"""Phones and dark rooms: no sideways scrolling at 390 px, a dark theme, a self-refreshing
overview; screenshots at phone and desktop widths. In headless Chromium."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from gatecam.database.engine import Database
from tests.fixtures_db import sqlite_only
from tests.web.browsing import browser, page
from tests.web.conftest import DAY, index, local, write

__all__ = ["browser", "page"]
pytestmark = [pytest.mark.browser, sqlite_only]
PAGES = ["/", DAY, "/at?stream=in_gate&time=2025-09-02T10:05", "/at?time=2025-09-02T09:04"]


def test_no_page_scrolls_sideways_on_a_phone(
    browser: Browser, client: httpx.Client, archive: dict[datetime, int], tmp_path: Path
) -> None:
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        for n, path in enumerate(PAGES):
            phone.goto(f"{client.base_url}{path}", wait_until="load")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
            phone.screenshot(path=tmp_path / f"phone-{n}.png", full_page=n == 0)
    finally:
        phone.close()
    assert (tmp_path / "phone-0.png").stat().st_size > 0


def test_the_desktop_overview(page: Page, client: httpx.Client, tmp_path: Path) -> None:
    page.goto(f"{client.base_url}/", wait_until="load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    page.screenshot(path=tmp_path / "desktop.png")
    assert (tmp_path / "desktop.png").stat().st_size > 0


def brightness(colour: str) -> float:
    red, green, blue = (float(c) for c in colour.split("(")[1].rstrip(")").split(",")[:3])
    return (red + green + blue) / 3


@pytest.mark.parametrize("path", ["/", DAY])
def test_a_dark_colour_scheme_gets_a_dark_theme(
    browser: Browser, client: httpx.Client, archive: dict[datetime, int], path: str
) -> None:
    for scheme, dark in (("dark", True), ("light", False)):
        shown = browser.new_page(color_scheme=scheme)
        try:
            shown.goto(f"{client.base_url}{path}", wait_until="load")
            style = "getComputedStyle(document.body)"
            background = brightness(shown.evaluate(f"{style}.backgroundColor"))
            text = brightness(shown.evaluate(f"{style}.color"))
            assert (background < 60 and text > 180) if dark else background > 200, scheme
        finally:
            shown.close()


def test_the_overview_refreshes_itself_while_open(
    page: Page,
    client: httpx.Client,
    archive: dict[datetime, int],
    database: Database,
    tmp_path: Path,
) -> None:
    page.clock.install()
    page.goto(f"{client.base_url}/", wait_until="load")
    before = page.locator("h2 + p").first.inner_text()
    times = [local("12:00", day=3)]
    write(tmp_path / "images", "in_gate", times)
    index(database, tmp_path / "images", "in_gate", times)
    page.clock.run_for("01:05")
    page.wait_for_function(
        "before => document.querySelector('h2 + p').innerText !== before", arg=before
    )
    after = page.locator("h2 + p").first.inner_text()
    assert after.split(" images")[0] == f"{int(before.split(' images')[0]) + 1:,}"
