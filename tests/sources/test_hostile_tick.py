"""A hostile answer fails one stream's run, never the tick: the job over real HTTP and SQLite."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun
from gatecam.database.recipes import RecipeStore
from gatecam.downloader.job import DownloadJob
from gatecam.model import Recipe
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Listing
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin import Catalogue, CatalogueSource, StandIn
from gatecam.storage import LocalStore
from tests.fixtures_db import sqlite_only

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
DAY = date(2025, 8, 30)
LISTING = "/api/history?terminal={terminal}&stream={stream}&date={day}"
TERMINALS = ("apm", "fms")


def runs(database: Database) -> dict[str, tuple[str, str | None, int]]:
    """Each terminal's run: its status, its reason and how many images it stored."""
    with database.session_scope() as session:
        rows = session.scalars(select(DownloadRun)).all()
        return {row.terminal: (row.status, row.error, row.downloaded) for row in rows}


def site_with_images() -> StandIn:
    few = Catalogue(clock=lambda: NOW, scheduled=False)
    for terminal in TERMINALS:
        for hour, minute in ((0, 10), (12, 0), (23, 40)):
            few.add(terminal, "in_gate", datetime(2025, 8, 30, hour, minute, tzinfo=UTC))
    return StandIn(catalogue=few)


def config(database: Database, site: StandIn, folder: Path) -> DownloadConfig:
    return DownloadConfig(
        streams=[f"{terminal}/in_gate" for terminal in TERMINALS],
        database_url=database.url,
        download_dir=folder,
        app_url=site.app_url,
        cdn_url=site.cdn_url,
        timezone="UTC",  # DAY is the one UTC date holding the images
    )


@sqlite_only
@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("nested_json", "replay answered JSON nested too deep to read"),
        ("bad_next", "replay got a next link that does not parse: http://[::1"),
    ],
)
def test_a_hostile_answer_fails_that_stream_while_the_other_is_archived(
    database: Database, tmp_path: Path, fault: str, cause: str
) -> None:
    with site_with_images() as site:
        for terminal in TERMINALS:
            RecipeStore(database).save(Recipe(terminal, "GET", site.url + LISTING))
        site.inject(fault, match="terminal=fms", times=None)
        # No Chromium: the browser a refused replay falls back to fails too, in its words.
        source = DrayDogSource(site.app_url, site.cdn_url, chromium_path="/nonexistent/chromium")
        job = DownloadJob(config(database, site, tmp_path), database, source, LocalStore(tmp_path))

        job.run(DAY)

    found = runs(database)
    assert found["apm"] == ("success", None, 3)
    status, reason, stored = found["fms"]
    assert (status, stored) == ("failed", 0)
    assert reason is not None and "\n" not in reason
    assert reason.startswith(cause)
    assert "then the browser: Chromium not found" in reason
    assert len(list((tmp_path / "apm" / "in_gate" / DAY.isoformat()).glob("*.jpg"))) == 3


class BrokenSource(CatalogueSource):
    """A source whose parsing of the site breaks in ways no one foresaw, for one terminal."""

    def prefetch(self, wanted: Iterable[tuple[str, str, date]]) -> None:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        if terminal == "fms":
            raise ValueError("no 'images' in the answer's 3rd part:\n  {'imgs': [...]}")
        return super().list_images(terminal, stream, day, known=known)


@sqlite_only
def test_whatever_breaks_a_streams_listing_fails_that_run_in_one_line(
    database: Database, tmp_path: Path
) -> None:
    with site_with_images() as site:
        source = BrokenSource(site)
        job = DownloadJob(config(database, site, tmp_path), database, source, LocalStore(tmp_path))

        results = job.run(DAY)

    assert [r.status for r in results] == ["success", "failed"]
    found = runs(database)
    assert found["apm"] == ("success", None, 3)
    assert found["fms"] == (
        "failed",
        "unexpected error: ValueError: no 'images' in the answer's 3rd part: {'imgs': [...]}",
        0,
    )
