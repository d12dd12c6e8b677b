"""What the web app keeps between requests is bounded, and a junk query string adds nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import httpx

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.storage import LocalStore
from gatecam.web import create_app
from gatecam.web.common import Archive as Served
from gatecam.web.pagecache import PageCache
from tests.fixtures_db import sqlite_only
from tests.web.conftest import DAY, IN_GATE

JUNK = "j" * 2000


def test_a_page_cache_keeps_at_most_its_capacity_of_pages_and_gates() -> None:
    cache: PageCache[str] = PageCache(capacity=8)
    for n in range(100):
        assert cache.get(("page", n), 1, lambda n=n: f"page {n}") == f"page {n}"  # type: ignore[misc]
    assert len(cache) == 8 and cache.gates == 8
    # The newest are the ones kept.
    assert cache.get(("page", 99), 1, lambda: "drawn again") == "page 99"


@sqlite_only
def test_distinct_junk_queries_leave_every_cache_as_it_was(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    app = create_app(Archive(database, LocalStore(tmp_path / "images")))
    served: Served = app.state.archive
    image_id = archive[IN_GATE[5]]
    paths = ["/", "/?tz=UTC", DAY, "/api/images", "/api/stats", "/healthz", "/metrics"]
    paths.append(f"/image/{image_id}/thumb")

    async def ask(rounds: int) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            answers = []
            for n in range(rounds):
                for path in paths:
                    junk = "&" if "?" in path else "?"
                    answers.append(await client.get(f"{path}{junk}x{n}={JUNK}"))
            return answers

    first = asyncio.run(ask(1))
    assert all(r.status_code in (200, 503) for r in first), [r.status_code for r in first]
    sizes = (len(served.pages), served.pages.gates, len(served.sections), served.sections.gates)
    answers, thumbs = len(served.answers), len(served.thumbs)
    assert sizes == (2, 2, 4, 4)  # two zones of the index page, each with two streams

    later = asyncio.run(ask(30))

    assert (len(served.pages), served.pages.gates) == sizes[:2]
    assert (len(served.sections), served.sections.gates) == sizes[2:]
    assert (len(served.answers), len(served.thumbs)) == (answers, thumbs)
    # Nor is the junk carried into the page's links.
    index = later[-len(paths)]
    assert index.status_code == 200 and "x29" not in index.text and JUNK not in index.text
