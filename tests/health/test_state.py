"""A stream's state from what the database holds now: runs, the newest image, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gatecam.database import missed, queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.health import Limits, State
from gatecam.health.read import verdicts
from gatecam.health.state import duration

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
LIMITS = Limits(interval=timedelta(minutes=10))
STREAMS = [("apm", "in_gate")]


def run(
    db: Database,
    status: str,
    ago: timedelta,
    *,
    listed: int = 5,
    stored: int = 1,
    error: str | None = None,
) -> None:
    at = NOW - ago
    with db.session_scope() as session:
        run_id = queries.start_run(session, "apm", "in_gate", [f"{at:%Y-%m-%d}"], at=at)
        queries.finish_run(
            session, run_id, status=status, discovered=listed, downloaded=stored,
            failed=0 if status == "success" else listed - stored, pending=0, error=error, at=at,
        )  # fmt: skip


def image(db: Database, ago: timedelta) -> datetime:
    ts = NOW - ago
    record = ImageRecord("apm", "in_gate", f"apm/in_gate/{ts:%Y-%m-%d/%H%M%S}.jpg", ts, 100)
    with db.session_scope() as session:
        queries.insert_images(session, [record])
    return ts


def state(db: Database, now: datetime = NOW) -> tuple[State, datetime | None, str | None]:
    with db.read_scope() as session:
        [verdict] = verdicts(session, STREAMS, now, LIMITS)
    return verdict.state, verdict.since, verdict.reason


def test_a_stream_storing_fresh_images_is_ok(database: Database) -> None:
    image(database, timedelta(minutes=4))
    run(database, "success", timedelta(minutes=2))
    assert state(database) == (State.OK, None, None)


def test_a_camera_publishing_nothing_new_is_silent_until_a_new_image_arrives(
    database: Database,
) -> None:
    newest = image(database, timedelta(days=2))
    run(database, "success", timedelta(minutes=2))

    current, since, why = state(database)

    assert (current, since) == (State.SILENT, newest)
    assert why == "apm/in_gate: no new image for over 1 h 30 min (newest: 2026-12-05 15:00 UTC)"
    image(database, timedelta(minutes=1))
    assert state(database)[0] is State.OK


def test_images_listed_and_not_stored_make_it_failing_until_they_are_stored(
    database: Database,
) -> None:
    image(database, timedelta(minutes=5))
    run(database, "partial", timedelta(minutes=1), error="4 downloads failed")
    lost = [NOW - timedelta(minutes=10 * n) for n in range(1, 5)]
    misses = [missed.Miss(ts, f"http://cdn/{n}", "HTTP 503") for n, ts in enumerate(lost)]
    with database.session_scope() as session:
        missed.record_misses(session, "apm", "in_gate", misses, NOW - timedelta(minutes=20))
        # The same images tried again: still four images, not eight failures.
        missed.record_misses(session, "apm", "in_gate", misses, NOW - timedelta(minutes=1))

    current, since, why = state(database)

    assert (current, since) == (State.FAILING, NOW - timedelta(minutes=20))
    assert why == "apm/in_gate: 4 listed images not stored (limit 3): HTTP 503"
    with database.session_scope() as session:
        missed.clear_stored(session, "apm", "in_gate", lost)
    assert state(database)[0] is State.OK


def test_no_run_ending_well_for_three_intervals_is_stale_and_says_so_in_seconds_below_a_minute(
    database: Database,
) -> None:
    image(database, timedelta(minutes=5))
    run(database, "success", timedelta(minutes=31))
    run(database, "failed", timedelta(minutes=1), listed=0, stored=0, error="page did not load")

    current, since, why = state(database)

    assert (current, since) == (State.STALE, NOW - timedelta(minutes=31))
    assert why == "apm/in_gate: no run ended well for 31 min (limit 30 min)"
    assert duration(timedelta(seconds=45)) == "45 s"


def test_a_run_that_stored_none_of_what_it_lacked_is_failing_at_once(database: Database) -> None:
    image(database, timedelta(minutes=5))
    run(database, "success", timedelta(minutes=12))
    run(database, "failed", timedelta(minutes=1), stored=0, error="CDN down")

    current, _, why = state(database)

    assert current is State.FAILING
    assert why == "apm/in_gate: the latest run stored none of the images it lacked: CDN down"


def test_a_stream_that_never_ran_well_is_stale(database: Database) -> None:
    run(database, "failed", timedelta(minutes=1), listed=0, stored=0, error="page did not load")
    assert state(database) == (
        State.STALE,
        None,
        "apm/in_gate: no run has ended well yet; latest run: page did not load",
    )
