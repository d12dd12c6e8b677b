"""The ledger of missed images: what the site listed and the archive could not store, and why.

Real faults from the stand-in's CDN over HTTP, listing from its catalogue, real databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.database import missed
from gatecam.database.engine import Database
from gatecam.health.coverage import coverage_report
from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue
from tests.helpers import add, held, make_job


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(scheduled=False)) as standin:
        yield standin


def day_of(site: StandIn) -> date:
    return site.catalogue.today() - timedelta(days=1)


def ledger(database: Database) -> list[missed.MissedRecord]:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    with database.session_scope() as session:
        return missed.missed_images(session, start, start.replace(year=2100))


def test_images_that_cannot_be_stored_are_kept_with_their_reason_until_stored(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    day = day_of(site)
    stamps = add(site, "apm", "in_gate", day, count=5)
    html, cut = stamps[1], stamps[3]
    site.inject("html", match=f"{html:%Y-%m-%dT%H:%M:%S}", times=None)
    site.inject("truncated", match=f"{cut:%Y-%m-%dT%H:%M:%S}", times=None)
    job, _ = make_job(database, site, tmp_path, ["in_gate"])

    [first] = job.run(day)
    [again] = job.run(day)

    assert first.status == "partial" and first.downloaded == 3
    assert len(again.failed) == 2 and again.downloaded == 0
    rows = ledger(database)
    assert [(r.stream, r.timestamp, r.attempts) for r in rows] == [
        ("in_gate", html, 2),
        ("in_gate", cut, 2),
    ]
    assert all(r.reason and "\n" not in r.reason for r in rows)
    assert rows[0].url.startswith(site.cdn_url) and rows[0].unlisted_at is None
    assert rows[0].first_attempt <= rows[0].last_attempt

    site.clear_faults()
    [healed] = job.run(day)

    assert healed.ok and healed.downloaded == 2
    assert ledger(database) == []
    assert {ts for _, _, ts in held(database)} == set(stamps)


def test_a_missed_image_the_site_stops_listing_stays_missed_with_that_fact(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    day = day_of(site)
    stamps = add(site, "apm", "in_gate", day, count=3)
    site.inject("html", match=f"{stamps[1]:%Y-%m-%dT%H:%M:%S}", times=None)
    job, _ = make_job(database, site, tmp_path, ["in_gate"])
    job.run(day)
    site.catalogue.remove("apm", "in_gate", stamps[1])

    job.run(day)

    [row] = ledger(database)
    assert row.timestamp == stamps[1] and row.unlisted_at is not None
    assert row.attempts == 1


def test_counts_per_stream(database: Database) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    misses = [
        missed.Miss(now - timedelta(minutes=10 * i), f"http://cdn/{i}", "HTTP 500")
        for i in range(3)
    ]
    with database.session_scope() as session:
        missed.record_misses(session, "apm", "in_gate", misses, now)
        missed.record_misses(session, "apm", "out_gate", misses[:1], now)
        missed.record_misses(session, "apm", "in_gate", misses[:1], now + timedelta(minutes=10))
    with database.session_scope() as session:
        assert missed.missed_counts(session) == {("apm", "in_gate"): 3, ("apm", "out_gate"): 1}
        rows = missed.missed_images(
            session, now - timedelta(hours=1), now + timedelta(hours=1), [("apm", "out_gate")]
        )
    assert [(r.stream, r.attempts) for r in rows] == [("out_gate", 1)]


def test_coverage_tells_missed_images_from_gaps_and_forgets_them_once_stored(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    day = day_of(site)
    # Ten images 11 minutes apart: the three in the middle fail, which without the ledger
    # is a 44-minute gap, exactly like a camera that was off.
    stamps = add(site, "apm", "in_gate", day, count=10)
    for ts in stamps[4:7]:
        site.inject("html", match=f"{ts:%Y-%m-%dT%H:%M:%S}", times=None)
    job, _ = make_job(database, site, tmp_path, ["in_gate"])
    job.run(day)

    [stream] = coverage_report(database, day, day).as_dict()["streams"]
    [of_day] = stream["days"]

    assert (stream["held"], stream["missed"], of_day["missed"]) == (7, 3, 3)
    assert [m["timestamp"] for m in of_day["missed_images"]] == [
        ts.isoformat() for ts in stamps[4:7]
    ]
    assert all(m["reason"] for m in of_day["missed_images"])
    inside = [g for g in stream["gaps"] if g["start"] < stamps[6].isoformat() < g["end"]]
    assert inside == []
    site.clear_faults()
    job.run(day)
    [healed] = coverage_report(database, day, day).as_dict()["streams"]
    assert (healed["held"], healed["missed"]) == (10, 0)


def test_retry_missed_tries_the_ledger_again_now_without_listing(
    database: Database, site: StandIn, tmp_path: Path
) -> None:
    day = day_of(site)
    stamps = add(site, "apm", "in_gate", day, count=4)
    for ts in stamps[1:3]:
        site.inject("html", match=f"{ts:%Y-%m-%dT%H:%M:%S}", times=None)
    job, _ = make_job(database, site, tmp_path, ["in_gate"])
    job.run(day)
    assert len(ledger(database)) == 2
    site.clear_faults()

    [retried] = job.retry_missed()

    assert retried.ok and retried.downloaded == 2 and retried.found_by == {"ledger": 2}
    assert ledger(database) == []
    assert {ts for _, _, ts in held(database)} == set(stamps)
    assert job.retry_missed() == []  # nothing missed: no run
