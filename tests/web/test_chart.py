"""The overview's hourly chart reads (axis, legend, tooltips in words) and clicks, in Chromium."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from playwright.sync_api import Page

from gatecam.database.engine import Database
from gatecam.database.missed import Miss, record_misses
from tests.fixtures_db import sqlite_only
from tests.web.browsing import browser, page
from tests.web.conftest import local

__all__ = ["browser", "page"]
pytestmark = [pytest.mark.browser, sqlite_only]


def test_a_chart_bar_reads_in_words_and_links_to_its_hour(
    page: Page, client: httpx.Client, archive: dict[datetime, int], database: Database
) -> None:
    with database.session_scope() as session:
        miss = Miss(local("14:22"), "https://cdn.example/x.jpg", "HTTP 404")
        record_misses(session, "apm", "in_gate", [miss], local("14:30"))
    page.goto(f"{client.base_url}/", wait_until="load")
    chart = page.locator('svg.coverage[data-stream="apm/in_gate"]')
    assert [t.text_content() for t in chart.locator("text.axis").all()][:3] == [
        "100%",
        "50%",
        "0%",
    ]
    legend = page.locator(".legend").first.inner_text()
    assert "not archived" in legend and "missed" in legend and "frozen, dark or blank" in legend

    bar = chart.locator('a[href="/apm/in_gate/2025-09-02#hour-14"]')
    assert bar.locator("title").text_content() == (
        "3 of 6 expected (50 %), 1 missed, Tue 02 Sep 14:00\u201315:00 -07:00"
    )
    full = chart.locator('a[href="/apm/in_gate/2025-09-02#hour-10"] title').text_content()
    assert full is not None and full.startswith("6 of 6 expected (100 %)")
    # The missed image is drawn apart, in its own colour.
    assert bar.locator("rect.seg.missed").count() == 1
    assert chart.locator("rect.seg.missed").count() == 1
    colours = bar.locator("rect").evaluate_all("rs => rs.map(r => getComputedStyle(r).fill)")
    assert len(set(colours)) == 2

    bar.locator("rect.bar").click()
    page.wait_for_url("**/apm/in_gate/2025-09-02#hour-14")
    assert page.locator("#hour-14").inner_text() == "14:00"
