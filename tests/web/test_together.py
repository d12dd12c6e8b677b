"""/at for several cameras: side by side at one moment, stepping together, in Chromium."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from gatecam.database.engine import Database
from tests.fixtures_db import sqlite_only
from tests.web.browsing import browser, page
from tests.web.conftest import index, local, write

__all__ = ["browser", "page"]
pytestmark = [pytest.mark.browser, sqlite_only]
YARD = [local("09:01"), local("09:13"), local("09:24")]


@pytest.fixture
def three(database: Database, tmp_path: Path, archive: dict[datetime, int]) -> dict[datetime, int]:
    """A third stream beside in_gate and out_gate, at other minutes."""
    write(tmp_path / "images", "yard", YARD)
    return index(database, tmp_path / "images", "yard", YARD)


def cameras(page: Page) -> dict[str, tuple[str, str]]:
    """Per stream shown: its image's address and its offset from the moment asked."""
    figures = page.locator("figure.camera")
    return {
        figures.nth(n).get_attribute("data-stream") or "": (
            figures.nth(n).locator("img").get_attribute("src") or "",
            figures.nth(n).locator(".offset").inner_text(),
        )
        for n in range(figures.count())
    }


def test_three_cameras_side_by_side_step_together(
    page: Page, client: httpx.Client, archive: dict[datetime, int], three: dict[datetime, int]
) -> None:
    ids = archive | three
    query = "stream=in_gate&stream=out_gate&stream=apm/yard&time=2025-09-02T09:04"
    page.goto(f"{client.base_url}/at?{query}", wait_until="load")
    assert cameras(page) == {
        "apm/in_gate": (f"/image/{ids[local('09:02')]}", "-2 min"),
        "apm/out_gate": (f"/image/{ids[local('09:00')]}", "-4 min"),
        "apm/yard": (f"/image/{ids[local('09:01')]}", "-3 min"),
    }
    boxes = page.eval_on_selector_all("figure.camera", "fs => fs.map(f => f.offsetTop)")
    assert len(set(boxes)) == 1  # one row: side by side

    page.keyboard.press("ArrowRight")  # all three, one cadence later
    page.wait_for_url("**time=2025-09-02T09%3A14**")
    assert cameras(page) == {
        "apm/in_gate": (f"/image/{ids[local('09:12')]}", "-2 min"),
        "apm/out_gate": (f"/image/{ids[local('09:10')]}", "-4 min"),
        "apm/yard": (f"/image/{ids[local('09:13')]}", "-1 min"),
    }
    page.click("#at-next")
    page.wait_for_url("**time=2025-09-02T09%3A24**")
    assert cameras(page)["apm/yard"] == (f"/image/{ids[local('09:24')]}", "+0 s")
    assert cameras(page)["apm/out_gate"] == (f"/image/{ids[local('09:10')]}", "-14 min")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url("**time=2025-09-02T09%3A14**")
    assert cameras(page)["apm/yard"][1] == "-1 min"
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth)")


def test_one_image_links_to_all_cameras_at_its_moment(
    page: Page, client: httpx.Client, archive: dict[datetime, int], three: dict[datetime, int]
) -> None:
    page.goto(f"{client.base_url}/at?stream=in_gate&time=2025-09-02T09:14", wait_until="load")
    page.click("text=all cameras at this moment")
    page.wait_for_url("**/at?time=**")
    # Every stream of the archive, at the in-gate image's own moment (09:12).
    shown = cameras(page)
    assert set(shown) == {"apm/in_gate", "apm/out_gate", "apm/yard"}
    assert shown["apm/in_gate"][1] == "+0 s" and shown["apm/yard"][1] == "+1 min"


def test_several_streams_in_one_parameter_and_unknown_ones(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    answer = client.get("/at", params={"stream": "in_gate,out_gate", "time": "2025-09-02T09:04"})
    assert answer.status_code == 200 and answer.text.count('class="camera"') == 2
    unknown = client.get("/at", params={"stream": "in_gate,nope", "time": "2025-09-02T09:04"})
    assert unknown.status_code == 400
    assert "apm/in_gate, apm/out_gate" in unknown.text and unknown.text.count("\n") == 1
