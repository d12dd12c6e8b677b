"""The overview shows trouble: a banner (role="alert") and a badge while a stream is not ok."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from gatecam.archive import Archive
from gatecam.database import missed, queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, sqlite_only]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def store(db: Database, stream: str, times: list[datetime]) -> None:
    records = [
        ImageRecord("apm", stream, f"apm/{stream}/{ts:%Y-%m-%d/%H%M%S}.jpg", ts, 100)
        for ts in times
    ]
    with db.session_scope() as session:
        queries.insert_images(session, records)
        missed.clear_stored(session, "apm", stream, times)


def test_the_banner_names_a_failing_stream_and_is_gone_once_it_recovers(
    browser: Browser, database: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with database.session_scope() as session:
        for stream in ("in_gate", "out_gate"):
            run = queries.start_run(session, "apm", stream, [f"{now:%Y-%m-%d}"])
            queries.finish_run(
                session, run, status="partial", discovered=6, downloaded=2, failed=4,
                pending=0, error="4 downloads failed",
            )  # fmt: skip
    store(database, "in_gate", [now - timedelta(minutes=3)])
    store(database, "out_gate", [now - timedelta(minutes=3)])
    lost = [now - timedelta(minutes=10 * n) for n in range(1, 5)]
    with database.session_scope() as session:
        misses = [missed.Miss(ts, f"http://cdn/{n}", "HTTP 503") for n, ts in enumerate(lost)]
        missed.record_misses(session, "apm", "in_gate", misses, now)
    app = create_app(Archive(database, LocalStore(tmp_path)), tz="UTC")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    with WebServer(app) as web:
        page.goto(f"{web.url}/", wait_until="load")
        banner = page.get_by_role("alert")
        assert banner.is_visible()
        text = banner.inner_text()
        assert "1 of 2 streams need attention" in text
        assert "apm/in_gate" in text and "failing" in text and "HTTP 503" in text
        assert "out_gate" not in text
        assert page.locator(".badge.failing").count() == 2  # in the banner and its section
        assert page.locator(".badge.ok").count() == 1

        store(database, "in_gate", lost)  # the next run stores what was missed
        page.reload(wait_until="load")
        assert page.get_by_role("alert").count() == 0
        assert page.locator(".badge.ok").count() == 2
    page.close()
