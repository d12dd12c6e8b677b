"""A run is a success only when it stored what it listed; health and exit codes follow it.

Faults are real: a read-only folder, a full tmpfs, a CDN nobody answers on, a stand-in whose
bodies are cut short. Listing comes from the stand-in's catalogue (no Chromium), images over
HTTP from its CDN, and /healthz is asked in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun, StreamCounter
from gatecam.database.queries import ImageRecord
from gatecam.downloader import metrics
from gatecam.downloader.job import DownloadJob, RunResult
from gatecam.model import ImageRef
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Listing
from gatecam.sources.draydog.standin import CatalogueSource, StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue
from gatecam.storage import LocalStore
from gatecam.web import create_app
from gatecam.web import metrics as web_metrics
from tests.fixtures_db import sqlite_only
from tests.helpers import add, free_port, held, make_job, mount_read_only, mount_tmpfs

pytestmark = sqlite_only


@pytest.fixture
def site() -> Iterator[StandIn]:
    """A stand-in holding only the images a test adds, on days already over."""
    with StandIn(catalogue=Catalogue(scheduled=False)) as standin:
        yield standin


def yesterday(site: StandIn) -> date:
    return site.catalogue.today() - timedelta(days=1)


def get(database: Database, path: str, streams: list[tuple[str, str]] | None) -> httpx.Response:
    """``path`` of the web app, in-process, asked with the token (/healthz's full reasons)."""
    archive = Archive(database, LocalStore("."))
    # The images of these tests are a day old: silence is not what they judge.
    app = create_app(
        archive, interval_minutes=10, streams=streams, token="t", silent_minutes=3 * 24 * 60
    )

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get(path, headers={"Authorization": "Bearer t"})

    return asyncio.run(fetch())


def healthz(database: Database, streams: list[tuple[str, str]] | None = None) -> httpx.Response:
    return get(database, "/healthz", streams)


def last_success_metric(stream: str = "in_gate") -> float | None:
    return metrics.REGISTRY.get_sample_value(
        "gatecam_last_success_timestamp_seconds", {"terminal": "apm", "stream": stream}
    )


def runs(database: Database) -> list[DownloadRun]:
    with database.session_scope() as session:
        return list(session.scalars(select(DownloadRun).order_by(DownloadRun.id)))


def check_not_success(
    database: Database, result: RunResult, status: str, reason: str, before: float | None
) -> None:
    """The run, its row, the stats, the metric and /healthz all say it went wrong."""
    assert result.status == status and not result.ok, result.summary()
    assert result.reason is not None and reason in result.reason, result.reason
    [run] = runs(database)
    assert (run.status, run.error) == (status, result.reason)
    with database.session_scope() as session:
        stats = queries.get_stats(session)
    assert stats.successful_runs == 0
    assert getattr(stats, f"{status}_runs") == 1
    assert stats.last_error == result.reason
    assert last_success_metric() == before
    health = healthz(database, [("apm", "in_gate")])
    assert health.status_code == 503, health.text
    assert health.json()["reason"].startswith("apm/in_gate: ")


def test_bodies_all_cut_short_fail_the_run(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    add(site, "apm", "in_gate", yesterday(site), count=4)
    site.inject("truncated", times=None)  # every image and thumbnail
    job, _ = make_job(database, site, tmp_path, ["in_gate"])
    before = last_success_metric()

    [result] = job.run(yesterday(site))

    assert (result.discovered, result.downloaded, len(result.failed)) == (4, 0, 4)
    check_not_success(database, result, "failed", "none of the 4 new images stored", before)
    reason = healthz(database).json()["reason"]
    assert "the latest run stored none of the images it lacked" in reason

    site.clear_faults()
    [again] = job.run(yesterday(site))
    assert again.ok and again.downloaded == 4
    assert healthz(database).status_code == 200
    assert (last_success_metric() or 0) > (before or 0)


class _DeadCdn(CatalogueSource):
    """The stand-in's listing, with images on a port nobody listens on."""

    def __init__(self, site: StandIn, port: int) -> None:
        super().__init__(site)
        self.port = port

    def image_url(self, ref: ImageRef, *, thumbnail: bool = False) -> str:
        url = super().image_url(ref, thumbnail=thumbnail)
        return url.replace(self.site.url, f"http://127.0.0.1:{self.port}")


def test_a_cdn_that_does_not_answer_fails_the_run(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    add(site, "apm", "in_gate", yesterday(site), count=2)
    config = DownloadConfig(streams=["in_gate"], download_dir=tmp_path / "images")
    source = _DeadCdn(site, free_port())
    job = DownloadJob(config, database, source, LocalStore(tmp_path / "images"))
    before = last_success_metric()

    [result] = job.run(yesterday(site))

    assert result.discovered == 2 and result.downloaded == 0
    check_not_success(database, result, "failed", "none of the 2 new images stored", before)


def test_a_read_only_download_folder_fails_the_run(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    add(site, "apm", "in_gate", yesterday(site), count=3)
    before = last_success_metric()
    with mount_read_only(tmp_path / "images"):
        job, _ = make_job(database, site, tmp_path, ["in_gate"])
        [result] = job.run(yesterday(site))

    assert not held(database)
    assert all("Read-only file system" in f.reason for f in result.failed)
    check_not_success(database, result, "failed", "none of the 3 new images stored", before)


def test_a_full_disk_makes_the_run_partial_and_health_503(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    add(site, "apm", "in_gate", yesterday(site), count=20)
    before = last_success_metric()
    # A full image is about 130 KB: 1 MiB holds a handful of the 20.
    with mount_tmpfs(tmp_path / "images", "1m"):
        job, _ = make_job(database, site, tmp_path, ["in_gate"])
        [result] = job.run(yesterday(site))

    assert 0 < result.downloaded < 10 and len(result.failed) == 20 - result.downloaded
    assert "No space left on device" in result.failed[0].reason
    check_not_success(database, result, "partial", f"{len(result.failed)} downloads failed", before)
    reason = healthz(database).json()["reason"]
    assert f"apm/in_gate: {len(result.failed)} listed images not stored (limit 3)" in reason


def test_a_failed_download_or_two_is_partial_but_healthy(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    stamps = add(site, "apm", "in_gate", yesterday(site), count=5)
    job, _ = make_job(database, site, tmp_path, ["in_gate"])
    [first] = job.run(yesterday(site))
    assert first.ok and healthz(database).status_code == 200
    # Two of the next day's images come back cut short every time, full size and thumbnail.
    day = yesterday(site) - timedelta(days=1)
    more = add(site, "apm", "in_gate", day, count=4)
    for ts in more[1:3]:
        site.inject("truncated", match=f"{ts:%Y-%m-%dT%H:%M:%S}", times=None)

    [second] = job.run(day)

    assert second.status == "partial" and second.downloaded == 2, second.summary()
    first = second.failed[0]
    assert second.reason == (
        f"2 downloads failed, first at {first.ref.timestamp.isoformat()}: {first.reason} (2 stored)"
    )
    with database.session_scope() as session:
        stats = queries.get_stats(session)
    assert (stats.successful_runs, stats.partial_runs, stats.failed_runs) == (1, 1, 0)
    assert stats.last_error == second.reason
    # Stored most of its listing, with a success 1 run ago: healthy, and the error is shown.
    assert healthz(database).status_code == 200
    page = get(database, "/", None).text
    assert "2 runs (1 ok, 1 partial, 0 failed)" in page
    assert '<td class="partial">partial</td>' in page and "2 downloads failed, first at" in page
    assert len(held(database)) == len(stamps) + 2


def test_images_listed_outside_the_configured_cdn_fail_the_run_in_one_line(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    stamps = add(site, "apm", "in_gate", yesterday(site), count=3)
    elsewhere = [
        f"https://cdn2.example/apm/{ts:%Y-%m-%d}/{ts.hour}/{ts:%Y-%m-%dT%H:%M:%S}-in_gate.jpeg"
        for ts in stamps
    ]

    class Moved(CatalogueSource):
        """The page shows the images, all of them on a CDN gatecam is not told about."""

        def list_images(
            self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
        ) -> Listing:
            return Listing(refs=[], found_by={"dom": 0}, elsewhere=elsewhere)

    config = DownloadConfig(streams=["in_gate"], download_dir=tmp_path / "images")
    job = DownloadJob(config, database, Moved(site), LocalStore(tmp_path / "images"))

    [result] = job.run(yesterday(site))

    assert result.status == "failed" and result.discovered == 3
    assert result.reason == (
        "3 images of apm/in_gate are listed outside the configured CDN "
        f"https://cdn.draydog.com, e.g. {elsewhere[0]}: set --cdn-url / GATECAM_CDN_URL to "
        "where they are"
    )
    assert site.cdn_requests == 0
    reason = healthz(database).json()["reason"]
    assert "the latest run stored none of the images it lacked" in reason


def test_a_stream_that_never_listed_an_image_is_likely_a_wrong_name(
    database: Database, tmp_path: Path
) -> None:
    with StandIn() as site:  # the stand-in's own cameras, every day full
        job, _ = make_job(database, site, tmp_path, ["bogus_stream"])
        day = site.catalogue.today() - timedelta(days=3)
        [bogus] = job.run(day)
        # The stand-in answers an unknown camera as a site would: no images at all.
        history = httpx.get(
            f"{site.url}/api/history",
            params={"terminal": "apm", "stream": "bogus_stream", "date": str(day)},
        ).json()
        known = httpx.get(
            f"{site.url}/api/history",
            params={"terminal": "apm", "stream": "in_gate", "date": str(day)},
        ).json()

    assert bogus.status == "failed" and bogus.discovered == 0
    assert bogus.reason == (
        "no images for apm/bogus_stream: check the stream name; "
        "`gatecam probe --stream apm/bogus_stream`"
    )
    assert history["images"] == [] and history["total"] == 0
    assert known["total"] > 100


def test_an_empty_day_of_a_stream_that_had_images_is_a_success(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    add(site, "apm", "in_gate", yesterday(site) - timedelta(days=1))
    job, _ = make_job(database, site, tmp_path, ["in_gate"])
    [first] = job.run(yesterday(site) - timedelta(days=1))
    [empty] = job.run(yesterday(site))
    assert first.ok and empty.ok and empty.discovered == 0, empty.summary()


def record(db: Database, stream: str, status: str, *, failed: int = 0, ago: float = 1) -> None:
    """A run of ``stream`` that ended ``ago`` minutes ago."""
    ended = datetime.now(UTC) - timedelta(minutes=ago)
    with db.session_scope() as session:
        run = queries.start_run(session, "apm", stream, [f"{ended:%Y-%m-%d}"])
        queries.finish_run(
            session, run, status=status, discovered=10, downloaded=10 - failed if status !=
            "failed" else 0, failed=failed, pending=0,
            error=None if status == "success" else "page did not load",
        )  # fmt: skip
        session.execute(
            update(DownloadRun)
            .where(DownloadRun.id == run)
            .values(started_at=ended - timedelta(seconds=30), finished_at=ended)
        )
        session.execute(
            update(StreamCounter).where(StreamCounter.camera_id == stream).values(last_run_at=ended)
        )
        if status != "failed":  # what it stored: the camera published lately
            key = f"apm/{stream}/{ended:%Y-%m-%d/%H%M%S}.jpg"
            queries.insert_images(session, [ImageRecord("apm", stream, key, ended, 100)])


def test_health_and_metrics_judge_the_configured_streams(database: Database) -> None:
    record(database, "in_gate", "success")
    record(database, "side_gate", "failed")  # retired an hour ago; its last run failed
    record(database, "old_gate", "success", ago=2 * 24 * 60)  # retired two days ago

    assert healthz(database, [("apm", "in_gate")]).status_code == 200
    served = healthz(database)  # `gatecam web`: the streams that ran in the last day
    assert served.status_code == 503
    assert [s["stream"] for s in served.json()["streams"]] == ["in_gate", "side_gate"]
    assert "apm/side_gate: the latest run stored none of the images it lacked" in served.text
    configured = healthz(database, [("apm", "in_gate"), ("apm", "new_gate")])
    assert configured.status_code == 503
    assert configured.json()["reason"] == "apm/new_gate: no run has ended well yet"

    def timed(text: str) -> set[str]:
        """The streams with a last-success or last-download time in the exposition."""
        return {
            line.split('stream="')[1].split('"')[0]
            for line in text.splitlines()
            if line.startswith("gatecam_archive_last_")
        }

    assert timed(web_metrics.exposition(database, [("apm", "in_gate")]).decode()) == {"in_gate"}
    assert timed(web_metrics.exposition(database).decode()) == {"in_gate"}  # side_gate never won


def test_a_cdn_outage_of_several_ticks_is_failing_and_healthy_at_once_when_it_is_over(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    stamps = add(site, "apm", "in_gate", yesterday(site), count=10)
    for ts in stamps[3:7]:
        site.inject("503", match=f"{ts:%Y-%m-%dT%H:%M:%S}", times=None)
    job, _ = make_job(database, site, tmp_path, ["in_gate"])

    for _ in range(3):  # three ticks: the same four images fail each time
        job.run(yesterday(site))

    failing = healthz(database)
    assert failing.status_code == 503
    assert failing.json()["reason"].startswith(
        "apm/in_gate: the latest run stored none of the images it lacked"
    )
    site.clear_faults()
    [recovered] = job.run(yesterday(site))
    # Every failed attempt of the last hour no longer counts: only images still missed do.
    assert recovered.ok and recovered.downloaded == 4
    assert healthz(database).status_code == 200
