"""The day page shows each missed image where it was captured, with why it was missed."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path

import httpx

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.database.missed import Miss, record_misses
from gatecam.storage import LocalStore
from gatecam.web import create_app
from tests.fixtures_db import sqlite_only
from tests.web.conftest import DAY, local


def get(database: Database, root: Path, path: str) -> httpx.Response:
    app = create_app(Archive(database, LocalStore(root)))

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get(path)

    return asyncio.run(ask())


@sqlite_only
def test_a_missed_image_has_its_own_tile_at_its_time_with_its_reason(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    with database.session_scope() as session:
        miss = Miss(local("14:22"), "https://cdn.example/x.jpg", "HTTP 404 <gone>")
        record_misses(session, "apm", "in_gate", [miss], local("14:30"))
    page = get(database, tmp_path / "images", DAY)
    assert page.status_code == 200
    tiles = re.findall(r'<figure class="missed"[^>]*>.*?</figure>', page.text, re.S)
    assert len(tiles) == 1
    tile = tiles[0]
    # The reason on hover and as text in the tile (a tap shows it, no script needed),
    # escaped like every text of the page.
    assert 'title="missed: HTTP 404 &lt;gone&gt;"' in tile
    assert "HTTP 404 &lt;gone&gt;" in re.sub(r'title="[^"]*"', "", tile)
    assert "14:22:00 -07:00" in tile
    # In place: after the gap's start and the 14:02 image, before 14:49.
    grid = page.text[page.text.index('<div class="grid">') :]
    gap, at = grid.index('class="gap"'), grid.index(tile)
    assert grid.index("14:02:00 -07:00") < gap < at < grid.index("14:49:00 -07:00")
    assert re.search(r"images, <span class=\"missed\">1 missed</span>", page.text)
    # Neither a held image nor a plain gap.
    assert "/thumb" not in tile and 'class="gap"' not in tile


@sqlite_only
def test_a_day_without_missed_images_has_no_missed_tile(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    page = get(database, tmp_path / "images", DAY)
    assert page.status_code == 200 and 'class="missed"' not in page.text
