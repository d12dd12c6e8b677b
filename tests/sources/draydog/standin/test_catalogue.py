"""The stand-in catalogue: a schedule like the real site's, the same in every process."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from gatecam.errors import InputError
from gatecam.sources.draydog.standin import Catalogue

DAY = date(2025, 9, 1)
NEXT_WEEK = datetime(2025, 9, 8, tzinfo=UTC)


def fixed(now: datetime) -> Catalogue:
    return Catalogue(clock=lambda: now)


def test_a_day_looks_like_the_real_site() -> None:
    times = fixed(NEXT_WEEK).list("apm", "in_gate", DAY)
    assert times == sorted(times, reverse=True)
    assert all(ts.tzinfo is UTC and ts.date() == DAY for ts in times)
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= 8 * 60 for gap in gaps)
    assert sum(8 * 60 <= gap <= 12 * 60 for gap in gaps) > 0.9 * len(gaps)
    assert len({ts.second for ts in times}) > 30  # irregular seconds, not :00 each time


def test_streams_and_days_differ() -> None:
    catalogue = fixed(NEXT_WEEK)
    in_gate = catalogue.list("apm", "in_gate", DAY)
    assert in_gate != catalogue.list("apm", "out_gate", DAY)
    assert in_gate != catalogue.list("fenix", "in_gate", DAY)
    other_day = [
        ts + timedelta(days=1) for ts in catalogue.list("apm", "in_gate", date(2025, 8, 31))
    ]
    assert in_gate != other_day


def test_schedule_is_the_same_in_another_process() -> None:
    code = (
        "from datetime import UTC, date, datetime\n"
        "from gatecam.sources.draydog.standin import Catalogue\n"
        "c = Catalogue(clock=lambda: datetime(2025, 9, 8, tzinfo=UTC))\n"
        "print([t.isoformat() for t in c.list('apm', 'in_gate', date(2025, 9, 1))])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    expected = [ts.isoformat() for ts in fixed(NEXT_WEEK).list("apm", "in_gate", DAY)]
    assert out.strip() == str(expected)


def test_only_what_is_old_enough_is_published() -> None:
    captured = fixed(NEXT_WEEK).list("apm", "in_gate", DAY)[5]
    early = fixed(captured + timedelta(seconds=59))
    late = fixed(captured + timedelta(seconds=60))
    assert not early.exists("apm", "in_gate", captured)
    assert captured not in early.list("apm", "in_gate", DAY)
    assert late.exists("apm", "in_gate", captured)
    assert late.list("apm", "in_gate", DAY)[0] == captured


def test_history_ends_history_days_back() -> None:
    catalogue = Catalogue(clock=lambda: NEXT_WEEK, history_days=7)
    assert catalogue.list("apm", "in_gate", date(2025, 9, 1))
    assert catalogue.list("apm", "in_gate", date(2025, 8, 31)) == []


def test_added_images_appear_at_their_time() -> None:
    now = datetime(2025, 9, 1, 12, tzinfo=UTC)
    clock = [now]
    catalogue = Catalogue(clock=lambda: clock[0])
    past, future = now - timedelta(seconds=5), now + timedelta(seconds=30, microseconds=5)
    catalogue.add("apm", "in_gate", past)
    catalogue.add("apm", "in_gate", future)
    assert catalogue.list("apm", "in_gate", DAY)[0] == past  # no publish delay for extras
    assert not catalogue.exists("apm", "in_gate", future.replace(microsecond=0))
    clock[0] = now + timedelta(minutes=1)
    assert catalogue.exists("apm", "in_gate", future.replace(microsecond=0))


def test_naive_timestamps_and_bad_names_are_refused() -> None:
    catalogue = fixed(NEXT_WEEK)
    with pytest.raises(ValueError, match="time zone"):
        catalogue.add("apm", "in_gate", datetime(2025, 9, 1, 12))
    with pytest.raises(InputError, match="not a valid name"):
        catalogue.list("APM", "in_gate", DAY)
