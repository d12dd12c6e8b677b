"""Camera health: figures measured on download, frozen and black stretches found and reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from gatecam import camerahealth
from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.health.coverage import coverage_report
from gatecam.model import ImageRef
from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.storage import LocalStore, image_key
from gatecam.upkeep.rehash import rehash
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import make_job, run_main

DAY = date(2025, 9, 2)


def at(hour: int, minute: int, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute, 7), UTC)


# Night frames before the stand-in's black stretch (05:00-05:40 UTC), frames through it, and
# frames before, through and after its frozen stretch (16:00-17:00 UTC), 11 minutes apart.
NIGHT = [at(4, m) for m in (3, 14, 25, 36, 47)]
BLACK = [at(5, m) for m in (3, 14, 25, 36)]
MORNING = [at(5, 47), at(5, 58)]
BEFORE_FROZEN = [at(15, m) for m in (27, 38, 49)]
FROZEN = [at(16, m) for m in (0, 11, 22, 33, 44, 55)]
AFTER = [at(17, 6), at(17, 17)]


def frames_of(times: list[datetime]) -> list[camerahealth.Frame]:
    frames = []
    for n, ts in enumerate(times):
        figures = camerahealth.measure(render_jpeg("apm", "in_gate", ts, thumbnail=False))
        assert figures is not None
        frames.append(camerahealth.Frame(n, ts, *figures))
    return frames


def test_the_defaults_pass_night_frames_and_catch_black_and_frozen_ones() -> None:
    times = NIGHT + BLACK + MORNING + BEFORE_FROZEN + FROZEN + AFTER
    flags = camerahealth.flags(frames_of(times))

    by_time = {times[n]: kind for n, kind in flags.items()}
    # The first frozen frame is the camera's last real picture; the rest repeat it.
    assert by_time == {ts: "dark" for ts in BLACK} | {ts: "frozen" for ts in FROZEN[1:]}


def test_a_frozen_stretch_needs_three_images_in_a_row() -> None:
    two = frames_of([*BEFORE_FROZEN, *FROZEN[:2], *AFTER])
    assert camerahealth.flags(two) == {}
    assert camerahealth.frozen_now(frames_of(FROZEN[:3]))
    assert not camerahealth.frozen_now(frames_of(FROZEN[-2:] + AFTER[:1]))


def test_a_broken_image_has_no_figures() -> None:
    assert camerahealth.measure(b"\xff\xd8\xff not really a jpeg") is None


def test_the_batch_insert_stores_the_figures(database: Database) -> None:
    data = render_jpeg("apm", "in_gate", FROZEN[0], thumbnail=False)
    figures = camerahealth.measure(data)
    assert figures is not None
    record = ImageRecord("apm", "in_gate", "apm/in_gate/x.jpg", FROZEN[0], len(data), None)
    with database.session_scope() as session:
        queries.insert_images(
            session,
            [
                record._replace(
                    dhash=figures.dhash, brightness=figures.brightness, contrast=figures.contrast
                )
            ],
        )
    with database.session_scope() as session:
        row = session.execute(select(Image.dhash, Image.brightness, Image.contrast)).one()
    assert tuple(row) == tuple(figures)


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(scheduled=False, camera_faults=True)) as standin:
        yield standin


def add(site: StandIn, stream: str, times: list[datetime]) -> None:
    for ts in times:
        site.catalogue.add("apm", stream, ts)


@pytest.mark.parametrize("faults", [True, False])
def test_the_stand_in_camera_freezes_only_where_it_has_faults(faults: bool) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    frozen = [at(16, 11, yesterday), at(16, 22, yesterday)]
    with StandIn(catalogue=Catalogue(scheduled=False, camera_faults=faults)) as site:
        add(site, "in_gate", frozen)
        bodies = [httpx.get(site.source.image_url(ImageRef("apm", "in_gate", ts))) for ts in frozen]
    assert all(b.status_code == 200 for b in bodies)
    assert (bodies[0].content == bodies[1].content) is faults


@sqlite_only
def test_downloads_carry_figures_and_frozen_cameras_show_in_coverage_health_and_metrics(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    day = site.catalogue.today() - timedelta(days=1)
    before = [at(15, m, day) for m in (27, 38, 49)]
    frozen = [at(16, m, day) for m in (0, 11, 22, 33, 44)]
    black = [at(5, m, day) for m in (3, 14, 25)]
    add(site, "in_gate", black + before + frozen)
    add(site, "out_gate", before)
    job, _ = make_job(database, site, tmp_path, ["in_gate", "out_gate"])

    assert all(r.ok for r in job.run(day))

    with database.session_scope() as session:
        rows = session.execute(select(Image.dhash, Image.brightness, Image.contrast)).all()
    assert len(rows) == 14 and all(None not in row for row in rows)
    lines = coverage_report(database, day, day).lines()
    [in_gate] = [line for line in lines if line.startswith(f"apm/in_gate {day}")]
    # Held images count as held; those showing nothing useful are counted apart.
    assert in_gate.startswith(f"apm/in_gate {day}  11/") and "  3 dark, 4 frozen  " in in_gate
    [out_gate] = [line for line in lines if line.startswith(f"apm/out_gate {day}")]
    assert "frozen" not in out_gate and "dark" not in out_gate
    as_json = coverage_report(database, day, day).as_dict()["streams"][0]
    assert as_json["flagged"] == {"dark": 3, "frozen": 4}
    assert [d["flagged"] for d in as_json["days"]] == [{"dark": 3, "frozen": 4}]

    # Yesterday's images: silence is not what this test judges.
    app = create_app(
        Archive(database, LocalStore(tmp_path / "images")), token="t", silent_minutes=3 * 24 * 60
    )
    bearer = {"Authorization": "Bearer t"}  # /healthz's full reasons
    with (
        WebServer(app) as web,
        httpx.Client(base_url=web.url, timeout=10, headers=bearer) as client,
    ):
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["reason"] == (
            f"apm/in_gate: camera frozen, its last 5 images show one picture "
            f"(since {day} 16:00 UTC)"
        )
        assert httpx.get(f"{web.url}/healthz").json()["reason"] == "apm/in_gate: frozen"
        metrics = client.get("/metrics").text
        assert 'gatecam_camera_frozen{stream="in_gate",terminal="apm"} 1.0' in metrics
        assert 'gatecam_camera_frozen{stream="out_gate",terminal="apm"} 0.0' in metrics
        day_page = client.get(f"/apm/in_gate/{day}?tz=UTC").text
        assert "11 images, " in day_page and "3 dark, 4 frozen" in day_page
        assert day_page.count('data-flag="frozen"') == 4
        overview = client.get("/?tz=UTC").text
        assert "camera frozen since <time" in overview and f">{day:%a %Y-%m-%d} 16:0" in overview

        # The camera comes back: the next image is a new picture, and all is well again.
        add(site, "in_gate", [at(17, 6, day)])
        assert all(r.ok for r in job.run(day))
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics").text
        assert 'gatecam_camera_frozen{stream="in_gate",terminal="apm"} 0.0' in metrics


def test_rehash_measures_older_images_in_batches(database: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "images")
    records = []
    for ts in BEFORE_FROZEN + FROZEN:
        key = image_key(ImageRef("apm", "in_gate", ts))
        data = render_jpeg("apm", "in_gate", ts, thumbnail=False)
        store.put(key, data)
        records.append(ImageRecord("apm", "in_gate", key, ts, len(data)))
    with database.session_scope() as session:
        queries.insert_images(session, records)
    gone = records[0].filepath
    (tmp_path / "images" / gone).unlink()
    batches: list[int] = []

    report = rehash(database, store, batch_size=4, progress=batches.append)

    assert (report.measured, report.unreadable) == (8, 1) and batches == [4, 4, 1]
    assert (
        report.line() == "camera health figures computed for 8 images (1 unreadable, left without)"
    )
    with database.session_scope() as session:
        unmeasured = session.scalars(select(Image.filepath).where(Image.dhash.is_(None))).all()
    assert unmeasured == [gone]
    assert coverage_report(database, DAY, DAY).streams[0].flag_counts() == {"frozen": 5}
    # A second pass measures only what is still unmeasured.
    with database.session_scope() as session:
        session.execute(update(Image).where(Image.filepath == gone).values(missing_since=at(18, 0)))
    assert rehash(database, store).measured == 0


@sqlite_only
def test_verify_rehash_backfills_then_checks(
    capsys: pytest.CaptureFixture[str], database: Database, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "images")
    records = []
    for ts in FROZEN[:3]:
        key = image_key(ImageRef("apm", "in_gate", ts))
        data = render_jpeg("apm", "in_gate", ts, thumbnail=False)
        store.put(key, data)
        records.append(ImageRecord("apm", "in_gate", key, ts, len(data)))
    with database.session_scope() as session:
        queries.insert_images(session, records)
    args = ["verify", "--rehash", "--database-url", database.url]

    code, out, err = run_main(capsys, *args, "--download-dir", str(tmp_path / "images"))

    assert code == 0, err
    assert out.splitlines()[0] == "camera health figures computed for 3 images"
    assert "consistent" in out
    assert coverage_report(database, DAY, DAY).streams[0].flag_counts() == {"frozen": 2}
