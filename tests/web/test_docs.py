"""/docs is Swagger UI served from this server alone; HTML errors keep the page's frame."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page

from gatecam.web.openapi import SPEC
from tests.fixtures_db import sqlite_only
from tests.web.browsing import browser, page
from tests.web.conftest import DAY

__all__ = ["browser", "page"]
pytestmark = [pytest.mark.browser, sqlite_only]


def test_docs_render_the_operations_with_no_request_off_the_server(
    page: Page, client: httpx.Client, archive: dict[datetime, int]
) -> None:
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(urlsplit(r.url).netloc or r.url[:5]))
    page.goto(f"{client.base_url}/docs", wait_until="load")
    paths = page.locator(".opblock-summary-path")
    paths.first.wait_for()
    shown = {p.get_attribute("data-path") for p in paths.all()}
    assert shown == set(SPEC["paths"])
    page.locator(".opblock-summary", has_text="/api/stats").first.click()
    page.locator(".opblock-body").first.wait_for()
    own = urlsplit(str(client.base_url)).netloc
    assert hosts and {h for h in hosts if h != "data:"} == {own}


def test_a_browser_gets_errors_in_the_page_frame(
    page: Page, client: httpx.Client, archive: dict[datetime, int]
) -> None:
    answer = page.goto(f"{client.base_url}/apm/no_such/2025-09-02", wait_until="load")
    assert answer is not None and answer.status == 404
    assert page.locator("h1").inner_text() == "404 Not Found"
    assert "known: apm/in_gate, apm/out_gate" in page.locator("main").inner_text()
    page.click("text=back to the archive")
    page.wait_for_url(f"{client.base_url}/")
    answer = page.goto(f"{client.base_url}{DAY}?tz=Mars/Base", wait_until="load")
    assert answer is not None and answer.status == 400
    assert "unknown time zone 'Mars/Base'" in page.locator("main").inner_text()
    # Others still get the one line (the API its JSON).
    plain = client.get("/apm/no_such/2025-09-02")
    assert plain.text.startswith("404 Not Found: ") and plain.text.count("\n") == 1
    assert client.get("/api/images?limit=0", headers={"Accept": "text/html"}).json()["error"]
