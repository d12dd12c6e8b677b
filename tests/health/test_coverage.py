"""gatecam coverage: images held per stream and UTC hour against the cadence, on real databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.errors import InputError
from gatecam.health.coverage import coverage_report

NOW = datetime(2025, 9, 4, 12, 0, tzinfo=UTC)


def utc(day: int, hour: int, minute: int) -> datetime:
    return datetime(2025, 9, day, hour, minute, tzinfo=UTC)


def seed(db: Database, times: list[datetime], stream: str = "in_gate") -> None:
    records = [
        ImageRecord("apm", stream, f"apm/{stream}/{t:%Y-%m-%d}/{t:%H%M%S}.jpg", t, 10)
        for t in times
    ]
    with db.session_scope() as session:
        queries.insert_images(session, records)


@pytest.fixture
def archived(database: Database) -> Database:
    # Every 10 minutes from 2 Sep 06:00 UTC to 4 Sep 12:00, except 3 Sep 14:00-15:00.
    start, times = utc(2, 6, 0), []
    while start < NOW:
        if not utc(3, 14, 0) <= start < utc(3, 15, 0):
            times.append(start)
        start += timedelta(minutes=10)
    seed(database, times)
    return database


def test_hours_held_against_the_cadence_with_gaps(archived: Database) -> None:
    report = coverage_report(archived, date(2025, 9, 1), date(2025, 9, 4), now=NOW)
    (stream,) = report.streams
    assert len(stream.hours) == 4 * 24
    by_day = {d.start.date(): d for d in stream.days}
    # 1 Sep and the first 6 h of 2 Sep are before the archive began: not gaps, not expected.
    assert by_day[date(2025, 9, 1)].expected == 0 and by_day[date(2025, 9, 1)].completeness is None
    assert (
        by_day[date(2025, 9, 2)].expected == 18 * 6 and by_day[date(2025, 9, 2)].completeness == 100
    )
    assert by_day[date(2025, 9, 3)].held == 138 and by_day[date(2025, 9, 3)].completeness == 95.8
    # Only up to now on the 4th.
    assert by_day[date(2025, 9, 4)].expected == 72
    assert [(g.start, g.end, g.minutes) for g in stream.gaps] == [
        (utc(3, 13, 50), utc(3, 15, 0), 70)
    ]
    hour = stream.hours[24 + 24 + 14]
    assert (hour.start, hour.held, hour.completeness) == (utc(3, 14, 0), 0, 0.0)


def test_lines_and_json_say_the_same(archived: Database) -> None:
    report = coverage_report(archived, date(2025, 9, 1), date(2025, 9, 4), now=NOW)
    lines = report.lines()
    assert lines[0].startswith("coverage 2025-09-01 to 2025-09-04 (days in UTC;")
    assert "apm/in_gate 2025-09-01  before the archive began" in lines
    day = "apm/in_gate 2025-09-03  138/144 images  95.8%  1 gap: 13:50-15:00 +00:00 (70 min)"
    assert day in lines
    assert lines[-1].startswith("apm/in_gate total  ") and "1 gap, 1 h 10 min" in lines[-1]
    data = report.as_dict()
    assert data["days_in"] == "UTC" and data["gap_minutes"] == 20
    (s,) = data["streams"]
    assert s["gaps"] == [
        {"start": "2025-09-03T13:50:00+00:00", "end": "2025-09-03T15:00:00+00:00",
         "minutes": 70, "open": False}
    ]  # fmt: skip
    assert [d["date"] for d in s["days"]] == [
        "2025-09-01",
        "2025-09-02",
        "2025-09-03",
        "2025-09-04",
    ]


def test_days_all_before_the_archive_began_show_no_percentage(archived: Database) -> None:
    report = coverage_report(archived, date(2025, 8, 30), date(2025, 9, 1), now=NOW)
    lines = report.lines()
    assert "apm/in_gate 2025-08-30  before the archive began" in lines
    assert lines[-1] == "apm/in_gate total  0/0 images  \N{EN DASH}  0 gaps, 0 min without images"
    assert not any("None" in line for line in lines)


def test_silence_up_to_now_is_an_open_gap_and_terminal_filters(database: Database) -> None:
    seed(database, [utc(4, 10, 0), utc(4, 10, 10)])
    seed(database, [utc(4, 10, 0)], stream="out_gate")
    report = coverage_report(database, date(2025, 9, 4), date(2025, 9, 4), now=NOW)
    in_gate = report.streams[0]
    assert in_gate.gaps[-1].open and in_gate.gaps[-1].start == utc(4, 10, 10)
    assert [s.stream for s in report.streams] == ["in_gate", "out_gate"]
    assert (
        coverage_report(database, date(2025, 9, 4), date(2025, 9, 4), terminal="lbct").streams == []
    )


def test_bad_ranges_are_input_errors(database: Database) -> None:
    with pytest.raises(InputError, match="before"):
        coverage_report(database, date(2025, 9, 4), date(2025, 9, 1))
    with pytest.raises(InputError, match="cadence"):
        coverage_report(database, date(2025, 9, 1), date(2025, 9, 1), cadence_minutes=0)
