"""The scheduler end to end: real stand-in site, real databases, real Chromium where it lists.

One pass lists the page in Chromium; the rest list the stand-in's catalogue directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun, Image
from gatecam.downloader.scheduler import DownloadConfig, ImageDownloadScheduler
from gatecam.errors import DatabaseError, InputError, Unavailable
from gatecam.sources.draydog.standin import CatalogueSource, StandIn
from tests.fixtures_db import sqlite_only
from tests.helpers import archive_state, image_rows, iter_archive, make_scheduler, wait_for

STATS_KEYS = {
    "total_downloaded",
    "downloads_by_stream",
    "last_hour",
    "last_24h",
    "last_download",
    "total_runs",
    "successful_runs",
    "partial_runs",
    "failed_runs",
    "interrupted_runs",
    "failed_downloads",
    "last_error",
}


def test_scheduler_saves_to_database(database_url: str, tmp_path: Path) -> None:
    """The plan's own example, on a real database: two rows in, and again changes nothing."""
    config = DownloadConfig(
        stream_names=["in_gate"], download_dir=tmp_path, database_url=database_url
    )
    scheduler = ImageDownloadScheduler(config)
    downloaded_files = [
        {"filepath": "apm/in_gate/img1.jpg", "camera_id": "in_gate", "file_size": 1024},
        {"filepath": tmp_path / "apm/in_gate/img2.jpg", "camera_id": "in_gate", "file_size": 2048},
    ]
    try:
        assert scheduler.save_to_database(downloaded_files) == 2
        assert scheduler.stats.total_downloaded == 2
        assert scheduler.save_to_database(downloaded_files) == 0
        stats = scheduler.get_stats()
    finally:
        scheduler.stop()
    assert stats["total_downloaded"] == 2
    assert stats["downloads_by_stream"] == {"in_gate": 2}
    assert set(stats) == STATS_KEYS
    with scheduler.db.session_scope() as session:
        paths = set(session.scalars(select(Image.filepath)))
    assert paths == {"apm/in_gate/img1.jpg", "apm/in_gate/img2.jpg"}  # relative: it can move


def test_a_file_outside_the_archive_is_refused(database_url: str, tmp_path: Path) -> None:
    scheduler = make_scheduler(database_url, tmp_path / "archive")
    try:
        with pytest.raises(InputError, match="outside the download folder"):
            scheduler.save_to_database([{"filepath": "/tmp/img1.jpg", "camera_id": "in_gate"}])
    finally:
        scheduler.stop()


def test_the_python_example_works_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    """The API prepares SQLite by itself, as the CLI does."""
    url = f"sqlite:///{tmp_path / 'new' / 'gatecam.db'}"
    scheduler = ImageDownloadScheduler(
        DownloadConfig(stream_names=["in_gate"], download_dir=tmp_path, database_url=url)
    )
    try:
        assert scheduler.get_stats()["total_runs"] == 0
    finally:
        scheduler.stop()


def test_construction_fails_clearly_without_a_usable_database(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot connect"):
        make_scheduler("postgresql+psycopg://root@127.0.0.1:9/none", tmp_path)
    with pytest.raises(DatabaseError, match="does not exist"):
        make_scheduler("postgresql+psycopg://root@127.0.0.1:5432/no_such_gatecam_db", tmp_path)


@pytest.mark.parametrize(
    "kwargs", [{"interval_minutes": 0}, {"stream_names": ["../etc"]}, {"terminal": "APM"}]
)
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        DownloadConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.browser
def test_run_once_archives_a_day_and_a_second_run_downloads_nothing(
    database: Database, database_url: str, standin: StandIn, tmp_path: Path
) -> None:
    day = standin.catalogue.today() - timedelta(days=2)
    expected = sorted(standin.catalogue.list("apm", "in_gate", day))
    # UTC days: the run lists that one date of the site.
    scheduler = make_scheduler(database_url, tmp_path, standin, timezone="UTC")
    try:
        [first] = scheduler.run_once(day)
        files_after_first = archive_state(tmp_path)
        [second] = scheduler.run_once(day)
        stats = scheduler.get_stats()
    finally:
        scheduler.stop()

    assert first.ok, first.summary()
    assert first.downloaded == len(expected) > 100
    rows = image_rows(database)
    assert [r.timestamp for r in rows] == expected
    on_disk = {ref.timestamp: path for ref, path in iter_archive(tmp_path)}
    assert sorted(on_disk) == expected
    for row in rows:
        assert (tmp_path / row.filepath).stat().st_size == row.file_size
        assert row.sha256 and len(row.sha256) == 64 and not row.thumbnail

    assert second.ok and second.discovered >= len(expected)
    assert second.downloaded == 0
    assert archive_state(tmp_path) == files_after_first  # nothing fetched or rewritten
    assert stats["total_downloaded"] == len(expected)
    assert (stats["total_runs"], stats["successful_runs"]) == (2, 2)
    assert datetime.fromisoformat(stats["last_download"]).utcoffset() == timedelta(0)


@sqlite_only
def test_started_scheduler_runs_at_once_and_stops_cleanly(
    database_url: str, standin: StandIn, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    standin.catalogue.add("apm", "in_gate", now - timedelta(minutes=5))
    source = CatalogueSource(standin)
    scheduler = make_scheduler(database_url, tmp_path, standin, source=source, interval_minutes=10)
    scheduler.start()
    try:
        wait_for(lambda: scheduler.stats.total_runs > 0, "the first run")
    finally:
        scheduler.stop()
    assert not scheduler.is_running
    stats = scheduler.stats
    assert stats.successful_runs == 1
    assert stats.total_downloaded >= 1


def _break_image_inserts(database: Database) -> None:
    with database.engine.begin() as conn:
        if database.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER no_images BEFORE INSERT ON images "
                    "BEGIN SELECT RAISE(ABORT, 'simulated database failure'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION no_images() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'simulated database failure'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER no_images BEFORE INSERT ON images "
                    "FOR EACH ROW EXECUTE FUNCTION no_images()"
                )
            )


def test_database_failure_during_a_job_is_recorded_and_not_fatal(
    database: Database, database_url: str, standin: StandIn, tmp_path: Path
) -> None:
    _break_image_inserts(database)
    day = standin.catalogue.today() - timedelta(days=1)
    source = CatalogueSource(standin)
    scheduler = make_scheduler(database_url, tmp_path, standin, source=source)
    try:
        [result] = scheduler.run_once(day)
        stats = scheduler.get_stats()
    finally:
        scheduler.stop()
    assert result.error is not None and "simulated database failure" in result.error
    assert stats["failed_runs"] == 1
    assert "simulated database failure" in stats["last_error"]
    with database.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(DownloadRun)) == 1


@sqlite_only
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"camera_id": "in_gate"}, r"downloaded_files\[1\]: 'filepath' is missing"),
        ({"filepath": "apm/in_gate/x.jpg"}, r"downloaded_files\[1\]: 'camera_id' is missing"),
        ({"filepath": "x.jpg", "camera_id": "In Gate!"}, "camera_id: 'In Gate!' is not a valid"),
        ({"filepath": "x.jpg", "camera_id": "x" * 70}, "70 characters long"),
        ({"filepath": "x.jpg", "camera_id": "in_gate", "terminal": "-"}, "terminal: '-'"),
        ({"filepath": "x.jpg", "camera_id": "in_gate", "timestamp": "noon"}, "not ISO 8601"),
    ],
)
def test_save_to_database_applies_the_cli_checks_and_saves_nothing(
    database_url: str, tmp_path: Path, bad: dict[str, str], message: str
) -> None:
    """The Python API refuses what the CLI refuses, with one line, before writing a row."""
    scheduler = make_scheduler(database_url, tmp_path)
    good = {"filepath": "apm/in_gate/img1.jpg", "camera_id": "in_gate"}
    try:
        with pytest.raises(InputError, match=message) as info:
            scheduler.save_to_database([good, bad])
        assert "\n" not in str(info.value)
        assert scheduler.stats.total_downloaded == 0
    finally:
        scheduler.stop()


@sqlite_only
def test_request_stop_ends_a_backfill_after_the_run_in_flight(
    database_url: str, standin: StandIn, tmp_path: Path
) -> None:
    first = standin.catalogue.today() - timedelta(days=3)
    days = [first + timedelta(days=n) for n in range(3)]
    scheduler = make_scheduler(database_url, tmp_path, standin, source=CatalogueSource(standin))
    try:
        results = scheduler.run_once(days=days, on_result=lambda _: scheduler.request_stop())
    finally:
        scheduler.stop()
    assert len(results) == 1 and results[0].ok  # the run in flight ends and is kept
    archived = {ref.timestamp.date() for ref, _ in iter_archive(tmp_path)}
    assert archived == {first}
