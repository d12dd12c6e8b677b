"""The job on its own: catch-up, one browser per pass, claims, several terminals, its clock.

The job takes any ``Source``. Here the source lists straight from the stand-in's catalogue,
so these tests need no Chromium; images still come over HTTP from the stand-in CDN. The
catalogue and the job share one fixed clock, so no test depends on the hour it runs at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gatecam.database.engine import Database
from gatecam.database.locks import claim
from gatecam.database.models import DownloadRun
from gatecam.sources.draydog.standin import Catalogue, StandIn
from tests.helpers import FixedClock, add, held, make_job


@pytest.fixture
def clock() -> FixedClock:
    """Noon UTC of today's date: every image a test adds to today is published by then.

    The date stays the real one because a run's start is stamped by the database, and
    catch-up reads the day it covered from that stamp.
    """
    return FixedClock(datetime.combine(datetime.now(UTC).date(), time(12), UTC))


@pytest.fixture
def site(clock: FixedClock) -> Iterator[StandIn]:
    """A stand-in with no scheduled images, on the job's clock: each test adds what it needs."""
    with StandIn(catalogue=Catalogue(scheduled=False, clock=clock)) as standin:
        yield standin


def test_one_pass_opens_one_lister_for_every_terminal_stream_and_day(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    days = [site.catalogue.today() - timedelta(days=n) for n in (3, 2)]
    streams = ["apm/in_gate", "apm/out_gate", "fms/in_gate"]
    expected = {
        (t, s, ts)
        for t, s in (x.split("/") for x in streams)
        for day in days
        for ts in add(site, t, s, day)
    }
    job, source = make_job(database, site, tmp_path, streams, clock=clock)

    results = job.run(days=days)

    assert source.opened == 1
    assert [r.ok for r in results] == [True] * 6
    assert held(database) == expected
    with database.session_scope() as session:
        runs = session.scalars(select(DownloadRun)).all()
    assert {(r.terminal, r.camera_id, r.days) for r in runs} == {
        (t, s, str(d)) for t, s in (x.split("/") for x in streams) for d in days
    }
    assert all(r.found_by == '{"catalogue": 3}' and r.host and r.pid for r in runs)


def test_catch_up_lists_every_day_since_the_last_complete_run(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    today = site.catalogue.today()
    add(site, "apm", "in_gate", today, count=1)
    job, source = make_job(database, site, tmp_path, ["in_gate"], clock=clock)
    [first] = job.run()
    assert first.ok and first.days == [str(today)]
    # The scheduler was down for three days: pretend its last run was then.
    with database.session_scope() as session:
        then = clock() - timedelta(days=3)
        session.execute(update(DownloadRun).values(started_at=then, days=str(then.date())))
    missed = {ts for n in (1, 2, 3) for ts in add(site, "apm", "in_gate", today - timedelta(n))}

    [caught_up] = job.run()

    assert caught_up.days == [str(today - timedelta(days=n)) for n in (3, 2, 1, 0)]
    assert missed <= {ts for _, _, ts in held(database)}
    assert source.opened == 2  # one browser per pass, not per day


def test_a_stream_claimed_by_another_instance_is_skipped(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    day = site.catalogue.today() - timedelta(days=1)
    add(site, "apm", "in_gate", day)
    add(site, "apm", "out_gate", day)
    job, _ = make_job(database, site, tmp_path, ["in_gate", "out_gate"], clock=clock)

    with claim(database, "apm", "in_gate") as mine:
        assert mine
        skipped, done = job.run(day)

    assert skipped.skipped and "another gatecam instance" in skipped.summary()
    assert done.ok and done.downloaded == 3
    with database.session_scope() as session:
        assert session.scalars(select(DownloadRun.camera_id)).all() == ["out_gate"]


def test_a_run_finished_elsewhere_this_tick_is_not_run_again(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    add(site, "apm", "in_gate", site.catalogue.today())
    job, source = make_job(database, site, tmp_path, ["in_gate"], clock=clock)
    tick = datetime.now(UTC) - timedelta(seconds=1)
    [first] = job.run(tick=tick)
    [second] = job.run(tick=tick)
    [next_tick] = job.run(tick=datetime.now(UTC))
    assert first.ok and second.skipped and next_tick.ok
    assert len(source.listed) == 2


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_a_stream_that_never_listed_an_image_fails_only_once_the_day_is_90_minutes_old(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    midnight = datetime.combine(clock().date(), time(0), UTC)
    job, _ = make_job(database, site, tmp_path, ["apm/in_gaet"], clock=clock)

    clock.now = midnight + timedelta(minutes=30)
    [early] = job.run()
    clock.now = midnight + timedelta(hours=12)
    [late] = job.run()

    # At 00:30 today may just not have its first image yet; by noon it would have one.
    assert early.ok and early.discovered == 0
    assert late.status == "failed"
    assert late.error is not None and "apm/in_gaet: check the stream name" in late.error
