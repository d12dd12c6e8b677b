"""Nothing lost, nothing corrupt: a killed scheduler and a database outage.

Real processes, a real stand-in site, real SQLite files and the real PostgreSQL server: the
scheduler is killed with SIGKILL mid-job, PostgreSQL is stopped mid-job, SQLite is locked by
another writer; afterwards one more job must leave files and rows exactly in step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.models import Image
from gatecam.downloader.job import DownloadJob
from gatecam.settings import DownloadConfig
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin import Catalogue, CatalogueSource, StandIn
from gatecam.storage.base import is_complete_jpeg
from gatecam.storage.local import PART_SUFFIX, LocalStore
from tests.fixtures_db import OwnPostgres
from tests.helpers import (
    GATECAM,
    archive_state,
    gatecam,
    image_rows,
    iter_archive,
    make_scheduler,
    wait_for,
)

pytestmark = pytest.mark.browser

# Slow enough that a job with a few dozen images is still downloading when we strike.
LATENCY = 0.3
BATCH_SIZE = 5
EXTRA_IMAGES = 40


# -- helpers ----------------------------------------------------------------------------------


def todays_timestamps(count: int = EXTRA_IMAGES) -> list[datetime]:
    """``count`` past capture times of today (UTC), a few minutes apart where the day allows."""
    now = datetime.now(UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    elapsed = int((now - midnight).total_seconds())
    if 86400 - elapsed < 300:
        pytest.skip("too close to UTC midnight: the job and the check would see different days")
    step = min(150, (elapsed - 1) // count)
    if step < 1:
        pytest.skip("too soon after UTC midnight to fit the test's images into today")
    return [now - timedelta(seconds=step * (n + 1)) for n in range(count)]


def count_rows(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.session_scope() as session:
            return int(session.scalar(select(func.count()).select_from(Image)) or 0)
    finally:
        db.dispose()


def job_progress(database_url: str, images: Path) -> int:
    """How many images the job has both written and recorded so far (at least)."""
    return min(len(list(iter_archive(images))), count_rows(database_url))


def rows_of(database_url: str) -> list[Image]:
    db = Database(database_url)
    try:
        return image_rows(db)
    finally:
        db.dispose()


def assert_in_step(database_url: str, images: Path) -> list[Image]:
    """Every file has exactly one row and every row its file, with matching size and sha256."""
    assert list(images.rglob(f"*{PART_SUFFIX}")) == []
    files = {path.relative_to(images).as_posix(): (ref, path) for ref, path in iter_archive(images)}
    rows = rows_of(database_url)
    by_path = {row.filepath: row for row in rows}
    assert len(by_path) == len(rows), "two rows point at one file"
    assert len({(r.terminal, r.camera_id, r.timestamp) for r in rows}) == len(rows)
    assert sorted(by_path) == sorted(files), "files without rows, or rows without files"
    for filepath, (ref, path) in files.items():
        row = by_path[filepath]
        assert (row.terminal, row.camera_id, row.timestamp) == (
            ref.terminal,
            ref.stream,
            ref.timestamp,
        )
        data = path.read_bytes()
        assert is_complete_jpeg(data), filepath
        assert row.file_size == len(data), filepath
        assert row.sha256 == hashlib.sha256(data).hexdigest(), filepath
    return rows


def assert_untouched(images: Path, earlier: dict[Path, tuple[int, int]]) -> None:
    """Each file of an earlier ``archive_state`` is still there, never fetched and rewritten."""
    now = archive_state(images)
    assert {path: now.get(path) for path in earlier} == earlier


def archived_timestamps(images: Path) -> set[datetime]:
    return {ref.timestamp for ref, _ in iter_archive(images)}


def run_env(database_url: str, images: Path, app_url: str, cdn_url: str) -> dict[str, str]:
    return {
        "GATECAM_DATABASE_URL": database_url,
        "GATECAM_DOWNLOAD_DIR": str(images),
        "GATECAM_DRAYDOG_APP_URL": app_url,
        "GATECAM_DRAYDOG_CDN_URL": cdn_url,
        "GATECAM_CONCURRENCY": "2",
        "GATECAM_BATCH_SIZE": str(BATCH_SIZE),
    }


@contextlib.contextmanager
def gatecam_run(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`gatecam run` in its own process group, its output in ``log``; killed at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*GATECAM, "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            # The group also holds Playwright's driver and Chromium during discovery.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A stand-in holding only the images a test adds: few, so the page and jobs stay short."""
    with StandIn(catalogue=Catalogue(scheduled=False)) as site:
        yield site


# -- killed mid-job --------------------------------------------------------------------------------


def test_run_killed_mid_job_is_completed_by_the_next_job_without_duplicates(
    standin: StandIn, database_url: str, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    for ts in todays_timestamps():
        standin.catalogue.add("apm", "in_gate", ts)
    standin.latency = LATENCY
    env = run_env(database_url, images, standin.app_url, standin.cdn_url)

    def listed(day: date) -> list[datetime]:
        return standin.catalogue.list("apm", "in_gate", day)

    log = tmp_path / "run.log"

    with gatecam_run(env, log) as proc:
        # Several batches committed, and files on disk, before the crash.
        wait_for(
            lambda: job_progress(database_url, images) >= 2 * BATCH_SIZE,
            "two batches of files and rows",
            proc=proc,
            log=log,
        )
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9, the scheduler and anything it started
        assert proc.wait(timeout=30) == -signal.SIGKILL
    today = datetime.now(UTC).date()
    at_kill = archived_timestamps(images)
    rows_at_kill = count_rows(database_url)
    assert rows_at_kill <= len(at_kill) < len(listed(today)), "not killed mid-job"

    # A kill may or may not leave a partial file behind; make sure there is one to clean up.
    day_dir = images / "apm" / "in_gate" / today.isoformat()
    stale = day_dir / f".000001.jpg.0123456789ab{PART_SUFFIX}"
    stale.write_bytes(b"\xff\xd8\xff\xe0 half an image")
    before = archive_state(images)
    expected = set(listed(today))

    done = gatecam("once", env={**env, "GATECAM_CONCURRENCY": "8"})
    assert done.returncode == 0, done.stderr
    assert "partial files left by an interrupted run" in done.stderr

    rows = assert_in_step(database_url, images)
    archived = archived_timestamps(images)
    # Complete: all that was listed before the job; nothing that was not listed after it.
    assert expected <= archived <= set(listed(today))
    assert_untouched(images, before)
    stats = gatecam("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total_downloaded"] == len(rows) == len(archived)


# -- PostgreSQL stopped during a job ---------------------------------------------------------------


def test_postgres_outage_mid_job_loses_nothing_and_downloads_nothing_twice(
    standin: StandIn, own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    # A server of the test's own: stopping the shared one would pull it from under the
    # tests other workers run meanwhile.
    database_url = own_postgres.url
    images = tmp_path / "images"
    for ts in todays_timestamps():
        standin.catalogue.add("apm", "in_gate", ts)
    standin.latency = LATENCY
    env = run_env(database_url, images, standin.app_url, standin.cdn_url)
    log = tmp_path / "run.log"

    def failed_jobs() -> list[str]:
        return [line for line in log.read_text().splitlines() if "database unavailable" in line]

    with gatecam_run(env, log) as proc:
        wait_for(
            lambda: job_progress(database_url, images) >= BATCH_SIZE,
            "a batch of files and rows",
            proc=proc,
            log=log,
        )
        try:
            own_postgres.stop()
            wait_for(lambda: bool(failed_jobs()), "the job to fail", proc=proc, log=log)
            during = archive_state(images)
        finally:
            if not own_postgres.ready():
                own_postgres.start()
        # The scheduler survived the outage and still stops cleanly on request.
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    output = log.read_text()
    [failure] = failed_jobs()
    assert "ERROR run apm/in_gate" in failure, output
    assert "Traceback" not in output

    today = datetime.now(UTC).date()
    expected = set(standin.catalogue.list("apm", "in_gate", today))
    assert during and len(during) < len(expected), "the outage did not hit mid-job"
    assert count_rows(database_url) < len(during), "every file got its row despite the outage"

    standin.latency = 0  # the outage is over; the rest need not be slow
    done = gatecam("once", env=env)
    assert done.returncode == 0, done.stderr
    # Files written before and during the outage were indexed, not fetched and written again.
    assert_untouched(images, during)
    rows = assert_in_step(database_url, images)
    archived = archived_timestamps(images)
    assert expected <= archived <= set(standin.catalogue.list("apm", "in_gate", today))
    stats = gatecam("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total_downloaded"] == len(rows) == len(archived)


# -- SQLite locked past its busy timeout -----------------------------------------------------------


def test_sqlite_locked_past_the_busy_timeout_fails_the_job_and_the_next_job_recovers(
    standin: StandIn, tmp_path: Path
) -> None:
    db_file = tmp_path / "gatecam.db"
    database_url = f"sqlite:///{db_file}?timeout=0.5"
    db = Database(database_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    images = tmp_path / "images"
    for ts in todays_timestamps():
        standin.catalogue.add("apm", "in_gate", ts)
    standin.latency = LATENCY
    today = datetime.now(UTC).date()

    def rows_now() -> int:
        # A plain read: WAL lets it through while the job writes, unlike our BEGIN IMMEDIATE.
        with contextlib.closing(sqlite3.connect(db_file, timeout=30)) as conn:
            return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])

    # The lock bites while the job stores images: the listing comes from the catalogue.
    source = CatalogueSource(standin)
    scheduler = make_scheduler(
        database_url, images, standin, source=source, concurrency=2, batch_size=BATCH_SIZE
    )
    blocker = sqlite3.connect(db_file, timeout=30, isolation_level=None)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(scheduler.run_once)
            wait_for(lambda: rows_now() >= BATCH_SIZE or job.done(), "a batch of rows", timeout=60)
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock from now on
            [locked] = job.result(timeout=120)
        during = archive_state(images)
        assert locked.error == "database unavailable: database is locked"
        assert rows_now() < len(during) < len(standin.catalogue.list("apm", "in_gate", today))
        blocker.execute("ROLLBACK")
        standin.latency = 0
        listed_before = set(standin.catalogue.list("apm", "in_gate", today))

        [recovered] = scheduler.run_once()
        stats = scheduler.get_stats()
    finally:
        blocker.close()
        scheduler.stop()
    assert recovered.ok, recovered.summary()
    assert_untouched(images, during)
    rows = assert_in_step(database_url, images)
    archived = archived_timestamps(images)
    assert listed_before <= archived <= set(standin.catalogue.list("apm", "in_gate", today))
    assert stats["total_downloaded"] == len(rows) == len(archived)
    # The locked run's end is recorded once the database answers: failed, by the database,
    # not "interrupted"; and the runs' downloads add up to the rows, indexed files included.
    with contextlib.closing(sqlite3.connect(db_file)) as conn:
        runs = conn.execute("SELECT status, error, downloaded FROM download_runs ORDER BY id")
        (cut, why, before), (ok, _, after) = runs.fetchall()
    assert (cut, why, ok) == ("failed", "database unavailable: database is locked", "success")
    assert before + after == len(rows)


def test_a_tick_that_starts_with_the_database_gone_fails_each_run_in_one_line(
    own_postgres: OwnPostgres, standin: StandIn, tmp_path: Path
) -> None:
    # Dray Dog's lister reads its learned recipes before the runs begin: that read, too,
    # must end as each run's one-line failure, not as an exception out of the tick.
    db = Database(own_postgres.url)
    config = DownloadConfig(
        streams=["in_gate", "out_gate"], database_url=db.url, download_dir=tmp_path / "images"
    )
    source = DrayDogSource(app_url=standin.url, cdn_url=standin.cdn_url)
    job = DownloadJob(config, db, source, LocalStore(tmp_path / "images"))
    own_postgres.stop()
    try:
        results = job.run()
    finally:
        db.dispose()

    assert [r.stream for r in results] == ["in_gate", "out_gate"]
    assert all(r.status == "failed" for r in results)
    assert all((r.error or "").startswith("database unavailable: ") for r in results)
    # Each line names the stream and the day it could not archive.
    today = datetime.now(UTC).date().isoformat()
    assert [r.summary().split(":")[0] for r in results] == [
        f"apm/in_gate {today}",
        f"apm/out_gate {today}",
    ]
