"""Nothing lost, nothing corrupt: the scheduler through outages, bad answers and a full disk.

Missed time, bad CDN answers, discovery failures, a full disk and retention, each through
the scheduler: the stand-in site over HTTP, a real archive folder and a real database (SQLite
and PostgreSQL). Discovery failures use real Chromium on the stand-in's page; the rest list
the stand-in's catalogue directly, since what they test starts after the listing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import PIL.Image
import pytest
from sqlalchemy import select

from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun, Image
from gatecam.downloader.scheduler import ImageDownloadScheduler
from gatecam.sources.draydog.standin import Catalogue, CatalogueSource, StandIn
from tests.fixtures_db import sqlite_only
from tests.helpers import image_rows, iter_archive, make_scheduler, mount_tmpfs


@pytest.fixture
def sparse_site() -> Iterator[StandIn]:
    """A stand-in with a stopped clock whose past days hold only the images a test adds.

    The stand-in draws every image it serves, thumbnails for the page included, so few
    images keep tests that list many days fast.
    """
    real = datetime.now(UTC).replace(microsecond=0)
    # Early in today (if the real day is that far along), so today holds only the few
    # images of its first half hour; stopped, so no listing grows while a test compares.
    now = min(real, datetime.combine(real.date(), clock_time(0, 30), UTC))
    with StandIn(catalogue=Catalogue(clock=lambda: now, history_days=0)) as site:
        yield site


def add_images(site: StandIn, day: date, count: int) -> list[datetime]:
    """Publish ``count`` images on a past ``day``, from 00:00:00 to 23:59:59."""
    start = datetime.combine(day, clock_time(), UTC)
    step = (86400 - 1) / (count - 1)
    added = [start + timedelta(seconds=round(n * step)) for n in range(count)]
    for ts in added:
        site.catalogue.add("apm", "in_gate", ts)
    return added


class _Schedulers:
    """Builds schedulers aimed at a stand-in and stops them after the test."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.made: list[ImageDownloadScheduler] = []

    def __call__(
        self,
        site: StandIn,
        download_dir: Path | None = None,
        *,
        browser: bool = False,
        **kwargs: object,
    ) -> ImageDownloadScheduler:
        """``browser``: discover on the page in Chromium, not from the catalogue."""
        archive = download_dir or self.tmp_path / "archive"
        source = None if browser else CatalogueSource(site)
        # A run of `day` lists that UTC date of the site alone, as these tests count it.
        kwargs.setdefault("timezone", "UTC")
        scheduler = make_scheduler(self.database_url, archive, site, source=source, **kwargs)
        self.made.append(scheduler)
        return scheduler


@pytest.fixture
def scheduler_for(database_url: str, tmp_path: Path) -> Iterator[_Schedulers]:
    made = _Schedulers(database_url, tmp_path)
    yield made
    for scheduler in made.made:
        scheduler.stop()


def listed(site: StandIn, *days: date) -> list[datetime]:
    """Every timestamp the stand-in publishes for ``days``, oldest first."""
    return sorted(ts for day in days for ts in site.catalogue.list("apm", "in_gate", day))


def stamp(ts: datetime) -> str:
    """The part of a CDN path that names one image, full and thumbnail alike."""
    return f"{ts:%Y-%m-%dT%H:%M:%S}-in_gate"


def check_archive(database: Database, root: Path) -> dict[datetime, Image]:
    """Assert files and rows agree and every file is a whole JPEG; return the rows by time.

    No partial file, every file has its row with its size and sha256, every row its file.
    """
    assert not list(root.rglob("*.part"))
    rows = {row.timestamp: row for row in image_rows(database) if row.timestamp is not None}
    files = {ref.timestamp: path for ref, path in iter_archive(root)}
    assert sorted(files) == sorted(rows)
    for ts, path in files.items():
        data = path.read_bytes()
        assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9"), path
        with PIL.Image.open(path) as picture:
            picture.load()  # decodes every scan: a truncated JPEG raises here
            assert picture.format == "JPEG"
        row = rows[ts]
        assert (root / row.filepath) == path
        assert row.file_size == len(data)
        assert row.sha256 == hashlib.sha256(data).hexdigest()
    return rows


def record_covered_run(database: Database, started_at: datetime) -> None:
    """A successful run, long ago, that listed the day it ran on (the scheduler then stopped)."""
    with database.session_scope() as session:
        session.add(
            DownloadRun(
                terminal="apm",
                camera_id="in_gate",
                started_at=started_at,
                finished_at=started_at + timedelta(minutes=1),
                status="success",
                days=started_at.date().isoformat(),
            )
        )


# -- missed time -----------------------------------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize("days_down", [1, 3], ids=["across-midnight", "three-days"])
def test_a_restarted_scheduler_catches_up_every_missed_day(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers, days_down: int
) -> None:
    today = sparse_site.catalogue.today()
    last_day = today - timedelta(days=days_down)
    missed = {
        last_day + timedelta(days=n): add_images(sparse_site, last_day + timedelta(days=n), 6)
        for n in range(days_down)
    }
    # The last run before the outage started five minutes before midnight, so the images
    # of that day's last minutes are still to fetch.
    record_covered_run(database, datetime.combine(last_day, clock_time(23, 55), UTC))
    scheduler = scheduler_for(sparse_site)

    [catch_up] = scheduler.run_once()
    [next_run] = scheduler.run_once()

    days = [last_day + timedelta(days=n) for n in range(days_down + 1)]
    assert catch_up.days == [day.isoformat() for day in days]
    assert catch_up.ok, catch_up.summary()
    expected = listed(sparse_site, *days)
    assert set(expected) >= {ts for added in missed.values() for ts in added}
    assert catch_up.downloaded == len(expected)
    archived = sorted(check_archive(database, scheduler.download_dir))
    assert archived == expected
    assert datetime.combine(last_day, clock_time(23, 59, 59), UTC) in archived
    # Today is now covered: the next tick looks at today alone and finds nothing new.
    assert next_run.days == [today.isoformat()]
    assert next_run.ok and next_run.downloaded == 0


@sqlite_only
def test_catching_up_never_reaches_past_the_retention_window(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers
) -> None:
    today = sparse_site.catalogue.today()
    record_covered_run(database, datetime.combine(today - timedelta(days=10), clock_time(12), UTC))
    scheduler = scheduler_for(sparse_site, retention_days=2)

    [catch_up] = scheduler.run_once()

    # Days retention would delete at the end of the same run are not fetched at all.
    assert catch_up.days == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]


# -- bad answers from the CDN ----------------------------------------------------------------------

# Each fault on its own image. These hit the full image once; a retry stores it.
# "timeout" is not here: the scheduler's downloader waits its default 30 s per attempt, so
# tests/downloader/test_fetch.py covers it with a short timeout instead.
RECOVERED = ["503", "429", "reset"]
# These never go away: kind -> (the thumbnail too, part of the reason the user reads).
FAILED = {
    "500": (False, "HTTP 500 after 4 attempts"),
    "html": (True, "not a JPEG (text/html)"),
    "truncated": (True, "truncated (got "),
    "zero": (True, "empty body (0 bytes)"),
    "no_eoi": (True, "incomplete JPEG (no end marker)"),
    "wrong_type": (True, "not a JPEG (text/plain)"),
}


def test_every_bad_answer_at_once_loses_nothing_and_stores_nothing_corrupt(
    database: Database, standin: StandIn, scheduler_for: _Schedulers
) -> None:
    day = standin.catalogue.today() - timedelta(days=2)
    expected = listed(standin, day)
    assert len(expected) > 100
    # Spread over the day so no two faults share an image.
    victims = iter(expected[5::10])
    recovered = []
    for kind in RECOVERED:
        ts = next(victims)
        standin.inject(kind, match=f"{stamp(ts)}.jpeg", times=1, retry_after=1)
        recovered.append(ts)
    failed: dict[datetime, str] = {}
    for kind, (thumbnail_too, reason) in FAILED.items():
        ts = next(victims)
        # Without ".jpeg" the match takes "-thumbnail.jpeg" too; None: every request.
        standin.inject(kind, match=stamp(ts) if thumbnail_too else f"{stamp(ts)}.jpeg", times=None)
        failed[ts] = reason
    # Gone from the CDN in full size only: the thumbnail is kept instead.
    as_thumbnail = next(victims)
    standin.inject("404", match=f"{stamp(as_thumbnail)}.jpeg", times=None)
    scheduler = scheduler_for(standin)

    [first] = scheduler.run_once(day)

    assert first.error is None, first.summary()
    assert first.discovered == len(expected)
    reasons = {f.ref.timestamp: f.reason for f in first.failed}
    assert sorted(reasons) == sorted(failed)
    for ts, reason in failed.items():
        assert reason in reasons[ts], (ts, reasons[ts])
    assert first.downloaded == len(expected) - len(failed)
    rows = check_archive(database, scheduler.download_dir)
    assert sorted(rows) == sorted(set(expected) - set(failed))
    assert set(recovered) <= set(rows)
    assert [ts for ts, row in rows.items() if row.thumbnail] == [as_thumbnail]
    # The thumbnail is smaller than a full image, and both are on the CDN for that time.
    assert 0 < (rows[as_thumbnail].file_size or 0) < (rows[recovered[0]].file_size or 0)
    stats = scheduler.stats
    assert stats.failed_downloads == len(failed)
    assert stats.failed_runs == 0
    assert stats.last_error is not None and f"{len(failed)} downloads failed" in stats.last_error

    standin.clear_faults()
    [second] = scheduler.run_once(day)

    assert second.ok, second.summary()
    assert second.downloaded == len(failed)
    rows = check_archive(database, scheduler.download_dir)
    assert sorted(rows) == expected
    assert sorted(ts for ts, row in rows.items() if row.thumbnail) == [as_thumbnail]
    assert scheduler.stats.failed_downloads == len(failed)  # a lifetime count


@sqlite_only
def test_a_404_for_a_fresh_image_is_pending_and_stored_later(
    database: Database, standin: StandIn, scheduler_for: _Schedulers
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # Listed on the page but not on the CDN yet: one image in neither size, one whose
    # thumbnail is out before the full image. Waiting, not the thumbnail, is right for both.
    unpublished = now - timedelta(minutes=2)
    # A second apart and on the same day, so one run lists both.
    thumbnail_first = unpublished + timedelta(
        seconds=1 if unpublished.time() == clock_time() else -1
    )
    fresh = sorted([unpublished, thumbnail_first])
    for ts in fresh:
        standin.catalogue.add("apm", "in_gate", ts)
    standin.inject("404", match=stamp(unpublished), times=None)
    standin.inject("404", match=f"{stamp(thumbnail_first)}.jpeg", times=None)
    scheduler = scheduler_for(standin)
    # Their own day, even if midnight has just passed.
    day = unpublished.date()

    [first] = scheduler.run_once(day)

    assert first.ok, first.summary()
    assert first.pending == 2
    rows = check_archive(database, scheduler.download_dir)
    assert not set(fresh) & set(rows)
    assert scheduler.stats.failed_downloads == 0

    standin.clear_faults()
    [later] = scheduler.run_once(day)

    assert later.ok and later.pending == 0, later.summary()
    rows = check_archive(database, scheduler.download_dir)
    assert [rows[ts].thumbnail for ts in fresh] == [False, False]
    assert scheduler.stats.failed_downloads == 0


# -- discovery failures ----------------------------------------------------------------------------


def run_rows(database: Database) -> list[DownloadRun]:
    with database.session_scope() as session:
        return list(session.scalars(select(DownloadRun).order_by(DownloadRun.id)))


def yesterday_with_images(site: StandIn) -> date:
    """Yesterday, given a few images: a day any run can list, whatever the hour."""
    day = site.catalogue.today() - timedelta(days=1)
    add_images(site, day, 4)
    return day


@sqlite_only
@pytest.mark.browser
def test_a_missing_chromium_fails_the_run_until_the_path_is_fixed(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers, tmp_path: Path
) -> None:
    day = yesterday_with_images(sparse_site)
    scheduler = scheduler_for(
        sparse_site, browser=True, chromium_path=str(tmp_path / "no-such" / "chromium")
    )

    [broken] = scheduler.run_once(day)  # must not raise

    assert broken.error is not None and "Chromium not found" in broken.error
    stats = scheduler.stats
    assert (stats.total_runs, stats.failed_runs) == (1, 1)
    assert stats.last_error is not None and "Chromium" in stats.last_error
    [run] = run_rows(database)
    assert run.status == "failed" and run.error == broken.error

    scheduler.stop()
    scheduler = scheduler_for(sparse_site, browser=True)  # restarted with the path fixed
    [fixed] = scheduler.run_once(day)

    assert fixed.ok, fixed.summary()
    assert fixed.downloaded == fixed.discovered == 4
    assert [r.status for r in run_rows(database)] == ["failed", "success"]


def check_broken_page_fails_one_run(
    database: Database, site: StandIn, scheduler: ImageDownloadScheduler, reason: str
) -> None:
    """The run while the page is broken fails with ``reason``; the next one is fine."""
    day = yesterday_with_images(site)
    [broken] = scheduler.run_once(day)

    assert broken.error is not None and reason in broken.error, broken.summary()
    assert broken.downloaded == 0
    assert not list(scheduler.download_dir.rglob("*.jpg"))

    [fine] = scheduler.run_once(day)

    assert fine.ok, fine.summary()
    assert fine.downloaded == fine.discovered == 4
    stats = scheduler.stats
    assert (stats.total_runs, stats.successful_runs, stats.failed_runs) == (2, 1, 1)
    assert stats.last_error is not None and reason in stats.last_error
    assert [(r.status, r.error) for r in run_rows(database)] == [
        ("failed", broken.error),
        ("success", None),
    ]


@sqlite_only
@pytest.mark.browser
def test_a_camera_page_answering_500_fails_one_run_and_the_next_is_fine(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers
) -> None:
    sparse_site.inject("page_500", match="/terminal_cameras/apm?")
    scheduler = scheduler_for(sparse_site, browser=True)
    check_broken_page_fails_one_run(database, sparse_site, scheduler, "answered HTTP 500")


@sqlite_only
@pytest.mark.browser
def test_a_camera_page_without_history_fails_one_run_and_the_next_is_fine(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers
) -> None:
    sparse_site.inject("no_history", match="/terminal_cameras/apm?")
    # The browser waits the whole page timeout for the missing History section.
    scheduler = scheduler_for(sparse_site, browser=True, page_timeout=5.0)
    check_broken_page_fails_one_run(database, sparse_site, scheduler, "History section not found")


def test_a_started_scheduler_keeps_running_after_its_first_tick_fails(
    standin: StandIn, scheduler_for: _Schedulers, tmp_path: Path
) -> None:
    scheduler = scheduler_for(
        standin, browser=True, chromium_path=str(tmp_path / "no-such" / "chromium")
    )
    scheduler.add_hourly(lambda: None, "upkeep")
    scheduler.start()
    deadline = time.monotonic() + 30
    while scheduler.stats.total_runs == 0 and time.monotonic() < deadline:
        time.sleep(0.05)

    stats = scheduler.stats
    assert (stats.total_runs, stats.failed_runs) == (1, 1)
    assert stats.last_error is not None and "Chromium" in stats.last_error
    assert scheduler.is_running
    jobs = {job.name: job for job in scheduler.scheduler.get_jobs()}
    assert sorted(jobs) == ["download apm/in_gate", "upkeep"]
    # the next tick is still coming
    assert jobs["download apm/in_gate"].next_run_time > datetime.now(UTC)
    # Upkeep (the CLI's timelapses) runs hourly, on a thread of its own beside the passes.
    assert jobs["upkeep"].executor == "upkeep"
    assert jobs["upkeep"].trigger.interval == timedelta(hours=1)


# -- disk full -------------------------------------------------------------------------------------


def test_a_full_disk_fails_the_rest_and_leaves_files_and_rows_in_step(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers, tmp_path: Path
) -> None:
    day = sparse_site.catalogue.today() - timedelta(days=2)
    expected = add_images(sparse_site, day, 24)
    # A full image is about 130 KB: 1 MiB holds a handful of them.
    with mount_tmpfs(tmp_path / "disk", "1m") as disk:
        scheduler = scheduler_for(sparse_site, download_dir=disk)
        try:
            [result] = scheduler.run_once(day)
            rows = check_archive(database, disk)
            stats = scheduler.stats
        finally:
            scheduler.stop()  # lets go of the lock file before the tmpfs is unmounted

    assert result.error is None, result.summary()
    assert 0 < result.downloaded < len(expected)
    assert len(rows) == result.downloaded
    assert result.failed and all("No space left on device" in f.reason for f in result.failed)
    failed = {f.ref.timestamp for f in result.failed}
    assert sorted(failed | set(rows)) == expected and not failed & set(rows)
    assert stats.failed_downloads == len(failed)
    assert stats.total_downloaded == len(rows)


# -- retention -------------------------------------------------------------------------------------


@sqlite_only
def test_retention_removes_old_days_but_not_the_counts(
    database: Database, sparse_site: StandIn, scheduler_for: _Schedulers
) -> None:
    today = sparse_site.catalogue.today()
    old_day = today - timedelta(days=5)
    old, recent = add_images(sparse_site, old_day, 6), listed(sparse_site, today)
    scheduler = scheduler_for(sparse_site)
    root = scheduler.download_dir
    old_folder = root / "apm" / "in_gate" / old_day.isoformat()

    [first] = scheduler.run_once(old_day)
    [second] = scheduler.run_once(today)

    assert first.ok and second.ok
    assert sorted(check_archive(database, root)) == old + recent
    assert old_folder.is_dir()

    scheduler.stop()
    scheduler = scheduler_for(sparse_site, retention_days=2)
    [pruned] = scheduler.run_once()

    assert pruned.ok, pruned.summary()
    assert sorted(check_archive(database, root)) == recent
    assert not old_folder.exists()
    stats = scheduler.stats
    assert stats.total_downloaded == len(old) + len(recent)
    assert stats.downloads_by_stream == {"in_gate": len(old) + len(recent)}
