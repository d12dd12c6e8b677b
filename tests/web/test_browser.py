"""Headless Chromium opens the served pages: every image loads and the coverage chart is drawn."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.helpers import CHROMIUM_ARGS
from tests.web.conftest import DAY, IN_GATE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_the_pages_load_every_image_and_draw_the_chart(
    browser: Browser, client: httpx.Client, archive: dict[datetime, int], tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # The Content-Security-Policy must let the page's own stylesheet and images through.
    refused: list[str] = []
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    try:
        response = page.goto(f"{client.base_url}/", wait_until="load")
        assert response is not None and "content-security-policy" in response.headers
        # The inline stylesheet applied: body text is 14px (the browser's default is 16px).
        assert page.evaluate("getComputedStyle(document.body).fontSize") == "14px"
        bars = page.eval_on_selector_all(
            "svg.coverage rect.bar",
            "rs => rs.map(r => { const b = r.getBBox(); return [b.width, b.height]; })",
        )
        # Seven days of hours per stream, each bar with a drawn size.
        assert len(bars) == 2 * 7 * 24
        assert all(w > 0 and h > 0 for w, h in bars)
        assert page.locator("svg.coverage rect.bar.good").count() > 0
        page.screenshot(path=tmp_path / "index.png", full_page=True)

        page.goto(f"{client.base_url}{DAY}", wait_until="load")
        images = page.locator("img")
        # Lazy images load as they scroll into view: bring each in, then check it.
        for n in range(images.count()):
            images.nth(n).scroll_into_view_if_needed()
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=15000)
        widths = page.eval_on_selector_all("img", "is => is.map(i => i.naturalWidth)")
        # Every in-gate image of 2 September in Los Angeles: all but the two around it.
        assert len(widths) == len(IN_GATE) - 2
        assert all(w > 0 for w in widths)
        assert page.locator(".gap").count() == 1
        page.screenshot(path=tmp_path / "day.png", full_page=True)
    finally:
        page.close()
    assert refused == []
    assert (tmp_path / "index.png").stat().st_size > 0 and (tmp_path / "day.png").stat().st_size > 0
