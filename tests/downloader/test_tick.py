"""A scheduled tick over many streams: its runs booked in bulk, each stream still its own run.

The source lists from the stand-in's catalogue (no Chromium); images come over HTTP from the
stand-in's CDN. Catalogue and job share one fixed clock at noon of today's date (a run's
start is stamped by the database, and catch-up reads the day it covered from that stamp).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from gatecam.database.engine import Database
from gatecam.database.locks import claim, claim_many
from gatecam.database.models import DownloadRun, StreamCounter
from gatecam.database.queries import ImageRecord, insert_images
from gatecam.model import ImageRef
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.storage.base import image_key
from tests.helpers import FixedClock, held, make_job

STREAMS = [f"{terminal}/cam{n}" for terminal in ("apm", "fms") for n in range(6)]
# A JPEG as the store keeps it: what index_files accepts for a file that has no row.
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64 + b"\xff\xd9"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.combine(datetime.now(UTC).date(), time(12), UTC))


@pytest.fixture
def site(clock: FixedClock) -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(scheduled=False, clock=clock)) as standin:
        yield standin


def stamp(clock: FixedClock, minutes: int) -> datetime:
    return datetime.combine(clock().date(), time(), UTC) + timedelta(minutes=minutes, seconds=7)


def fill(site: StandIn, clock: FixedClock, name: str, minutes: range) -> list[datetime]:
    terminal, stream = name.split("/")
    stamps = [stamp(clock, m) for m in minutes]
    for ts in stamps:
        site.catalogue.add(terminal, stream, ts)
    return stamps


def runs(database: Database) -> list[DownloadRun]:
    with database.session_scope() as session:
        return list(session.scalars(select(DownloadRun).order_by(DownloadRun.id)).all())


def test_an_idle_tick_downloads_exactly_the_new_images_and_runs_every_stream_once(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    for name in STREAMS:
        fill(site, clock, name, range(10, 300, 30))
    job, _ = make_job(database, site, tmp_path, STREAMS, clock=clock)
    assert all(r.ok and r.downloaded == 10 for r in job.run())
    first = {r.id for r in runs(database)}
    # Three streams get new images; the other nine have nothing new.
    new = {
        name: fill(site, clock, name, range(400, 400 + 20 * n, 20))
        for n, name in ((1, "apm/cam1"), (2, "fms/cam3"), (4, "apm/cam5"))
    }
    cdn_before = site.cdn_requests

    results = job.run(tick=clock() - timedelta(minutes=1))

    assert [f"{r.terminal}/{r.stream}" for r in results] == STREAMS
    assert all(r.ok and not r.skipped for r in results)
    assert {f"{r.terminal}/{r.stream}": r.downloaded for r in results} == {
        name: len(new.get(name, [])) for name in STREAMS
    }
    assert site.cdn_requests - cdn_before == 7
    expected_new = {(*name.split("/"), ts) for name, stamps in new.items() for ts in stamps}
    assert expected_new <= held(database) and len(held(database)) == 120 + 7
    second = [run for run in runs(database) if run.id not in first]
    assert sorted(f"{r.terminal}/{r.camera_id}" for r in second) == sorted(STREAMS)
    for run in second:
        name = f"{run.terminal}/{run.camera_id}"
        added = len(new.get(name, []))
        assert (run.status, run.discovered, run.downloaded, run.failed, run.pending) == (
            "success",
            10 + added,
            added,
            0,
            0,
        )
        assert run.finished_at is not None and run.found_by == f'{{"catalogue": {10 + added}}}'
    with database.session_scope() as session:
        counters = session.scalars(select(StreamCounter)).all()
    assert {
        (c.terminal, c.camera_id): (c.total, c.total_runs, c.successful_runs) for c in counters
    } == {tuple(name.split("/")): (10 + len(new.get(name, [])), 2, 2) for name in STREAMS}


def test_a_run_whose_images_were_partly_stored_already_counts_each_stream_alone(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    names = ["apm/cam0", "apm/cam1", "fms/cam0"]
    for name in names:
        fill(site, clock, name, range(10, 100, 30))
    job, _ = make_job(database, site, tmp_path, names, clock=clock)
    job.run()
    # Five new images each. apm/cam0: two already have rows (stored by another writer);
    # apm/cam1: two are on disk without rows (written while the database was away).
    new = {name: fill(site, clock, name, range(200, 300, 20)) for name in names}
    records = [
        ImageRecord("apm", "cam0", image_key(ImageRef("apm", "cam0", ts)), ts, len(JPEG), None)
        for ts in new["apm/cam0"][:2]
    ]
    with database.session_scope() as session:
        insert_images(session, records)
    for ts in new["apm/cam1"][:2]:
        path = tmp_path / "images" / image_key(ImageRef("apm", "cam1", ts))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(JPEG)
    cdn_before = site.cdn_requests

    results = {f"{r.terminal}/{r.stream}": r for r in job.run()}

    # Rows another writer stored are not this run's; files given their rows now are.
    assert {name: r.downloaded for name, r in results.items()} == {
        "apm/cam0": 3,
        "apm/cam1": 5,
        "fms/cam0": 5,
    }
    assert site.cdn_requests - cdn_before == 3 + 3 + 5
    assert len(held(database)) == 3 * 3 + 3 * 5
    latest = {f"{r.terminal}/{r.camera_id}": r for r in runs(database)}
    assert {name: (r.discovered, r.downloaded, r.status) for name, r in latest.items()} == {
        "apm/cam0": (8, 3, "success"),
        "apm/cam1": (8, 5, "success"),
        "fms/cam0": (8, 5, "success"),
    }


def test_a_stream_another_instance_holds_is_skipped_and_the_others_run(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    for name in STREAMS[:4]:
        fill(site, clock, name, range(10, 100, 30))
    job, _ = make_job(database, site, tmp_path, STREAMS[:4], clock=clock)

    with claim(database, "apm", "cam1") as mine:
        assert mine
        results = job.run()

    assert [(r.stream, r.skipped) for r in results] == [
        ("cam0", False),
        ("cam1", True),
        ("cam2", False),
        ("cam3", False),
    ]
    assert sorted(r.camera_id for r in runs(database)) == ["cam0", "cam2", "cam3"]
    assert held(database) == {
        (t, s, ts)
        for t, s in (n.split("/") for n in ("apm/cam0", "apm/cam2", "apm/cam3"))
        for ts in (stamp(clock, m) for m in range(10, 100, 30))
    }


def test_an_idle_tick_books_its_runs_and_reads_what_is_held_in_one_statement_each(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    for name in STREAMS:
        fill(site, clock, name, range(10, 100, 30))
    job, _ = make_job(database, site, tmp_path, STREAMS, clock=clock)
    job.run()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        results = job.run()
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    assert all(r.ok and r.downloaded == 0 for r in results)

    def count(start: str) -> int:
        return sum(s.startswith(start) for s in statements)

    assert count("INSERT INTO download_runs") == 1
    assert count("UPDATE download_runs") == 1
    assert count("INSERT INTO stream_counters") == 2  # as runs start, and as they end
    assert count("SELECT images.terminal, images.camera_id, images.timestamp") == 1
    # Whatever else the tick asks is per tick, not per stream.
    assert len(statements) < len(STREAMS)


def test_a_tick_claims_its_streams_with_the_locks_a_single_run_takes(database: Database) -> None:
    streams = [("apm", "cam0"), ("apm", "cam1"), ("fms", "cam0")]
    with claim(database, "apm", "cam1") as mine:
        assert mine
        with claim_many(database, streams) as got:
            assert got == {("apm", "cam0"), ("fms", "cam0")}
            with claim(database, "fms", "cam0") as other:
                assert not other
            with claim_many(database, streams) as second:
                assert second == set()
    # Released at the end of the block: claimed again, by either kind.
    with claim_many(database, streams) as again:
        assert again == set(streams)
    with claim(database, "fms", "cam0") as mine:
        assert mine
