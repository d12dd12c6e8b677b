"""One day means the same everywhere: midnight to midnight in GATECAM_TIMEZONE.

The images sit around Los Angeles midnights in January (PST, UTC-8), where the local day
2025-01-15 runs from 08:00 UTC on the 15th to 08:00 UTC on the 16th: a UTC day and the local
day of the same date share only part of their images.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.days import site_dates, zone
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import FixedClock, held, make_job, run_main

DAY = date(2025, 1, 15)


def utc(day: int, hh: int, mm: int) -> datetime:
    return datetime(2025, 1, day, hh, mm, tzinfo=UTC)


BEFORE = utc(15, 7, 30)  # 23:30 PST on the 14th
# The local day 2025-01-15: three of its images have the UTC date 2025-01-16.
OF_THE_DAY = [utc(15, 8, 30), utc(16, 6, 0), utc(16, 6, 40), utc(16, 7, 30)]
AFTER = utc(16, 8, 10)  # 00:10 PST on the 16th
EVERY = [BEFORE, *OF_THE_DAY, AFTER]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(utc(17, 12, 0))


@pytest.fixture
def site(clock: FixedClock) -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(scheduled=False, clock=clock)) as standin:
        for ts in EVERY:
            standin.catalogue.add("apm", "in_gate", ts)
        yield standin


def test_once_date_of_a_local_day_archives_its_images_of_the_next_utc_date(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    # The job behind `once --date 2025-01-15`, in the default zone (America/Los_Angeles).
    job, _ = make_job(database, site, tmp_path, ["in_gate"], clock=clock)

    (result,) = job.run(DAY)

    assert result.ok, result.reason
    # Both UTC dates the local day spans are listed; the layout keeps UTC-date folders.
    assert result.days == ["2025-01-15", "2025-01-16"]
    archived = {ts for _, _, ts in held(database)}
    assert set(OF_THE_DAY) <= archived
    assert (tmp_path / "images/apm/in_gate/2025-01-16/073000.jpg").is_file()


@sqlite_only
def test_coverage_and_export_of_one_day_hold_the_same_images(
    database: Database,
    site: StandIn,
    clock: FixedClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job, _ = make_job(database, site, tmp_path, ["in_gate"], clock=clock)
    assert all(r.ok for r in job.run(days=[date(2025, 1, 15), date(2025, 1, 16)]))
    monkeypatch.setenv("GATECAM_DATABASE_URL", database.url)
    monkeypatch.setenv("GATECAM_DOWNLOAD_DIR", str(tmp_path / "images"))

    code, out, err = run_main(
        capsys, "coverage", "--from", "2025-01-15", "--to", "2025-01-15", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    (stream,) = report["streams"]
    assert report["days_in"] == "America/Los_Angeles"
    assert [(d["date"], d["held"]) for d in stream["days"]] == [("2025-01-15", 4)]

    tar = tmp_path / "day.tar"
    code, _, err = run_main(
        capsys, "export", "--stream", "in_gate", "--date", "2025-01-15", "--out", str(tar)
    )
    assert code == 0, err
    with tarfile.open(tar) as bundle:
        manifest = json.load(bundle.extractfile("manifest.json"))  # type: ignore[arg-type]
    exported = sorted(datetime.fromisoformat(i["captured_utc"]) for i in manifest["images"])
    assert exported == OF_THE_DAY
    assert manifest["time_zone"] == "America/Los_Angeles"

    # The human-readable report says which days, and every time in it has its offset.
    code, out, _ = run_main(capsys, "coverage", "--from", "2025-01-15", "--to", "2025-01-15")
    assert "(days in America/Los_Angeles;" in out
    assert "apm/in_gate 2025-01-15  4/" in out
    assert "00:30-22:00 -08:00 (1290 min)" in out

    # Another zone moves both the same way: UTC days hold BEFORE and the 08:30 image.
    monkeypatch.setenv("GATECAM_TIMEZONE", "UTC")
    code, out, _ = run_main(
        capsys, "coverage", "--from", "2025-01-15", "--to", "2025-01-15", "--json"
    )
    assert [(d["date"], d["held"]) for d in json.loads(out)["streams"][0]["days"]] == [
        ("2025-01-15", 2)
    ]
    code, _, err = run_main(
        capsys, "export", "--stream", "in_gate", "--date", "2025-01-15", "--out", str(tar)
    )
    assert code == 0, err
    with tarfile.open(tar) as bundle:
        names = sorted(n for n in bundle.getnames() if n.endswith(".jpg"))
    assert names == ["apm/in_gate/2025-01-15/073000.jpg", "apm/in_gate/2025-01-15/083000.jpg"]


@sqlite_only
def test_a_time_without_offset_means_the_same_in_the_api_and_at(
    database: Database, site: StandIn, clock: FixedClock, tmp_path: Path
) -> None:
    job, _ = make_job(database, site, tmp_path, ["in_gate"], clock=clock)
    assert all(r.ok for r in job.run(days=[date(2025, 1, 15)]))
    app = create_app(Archive(database, LocalStore(tmp_path / "images")))
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=10) as http:
        # 00:00 to 01:00 on the 15th, local: the image of 08:30 UTC (00:30 PST).
        page = http.get(
            "/api/images",
            params={"stream": "in_gate", "from": "2025-01-15T00:00", "to": "2025-01-15T01:00"},
        ).json()
        (item,) = page["items"]
        assert datetime.fromisoformat(item["timestamp"]) == utc(15, 8, 30)
        at = http.get("/at", params={"stream": "in_gate", "time": "2025-01-15T00:30"})
        assert at.status_code == 200
        assert f'<img src="{item["url"]}"' in at.text and "?v=" in item["url"]
        # A date alone is its local midnight too.
        day = http.get("/api/images", params={"stream": "in_gate", "from": "2025-01-15"}).json()
        assert [datetime.fromisoformat(i["timestamp"]) for i in day["items"]] == [utc(15, 8, 30)]


def test_a_local_day_spans_the_utc_dates_the_site_lists() -> None:
    la, tokyo = zone("America/Los_Angeles"), zone("Asia/Tokyo")
    now = utc(20, 0, 0)
    assert site_dates(DAY, DAY, la, now) == [date(2025, 1, 15), date(2025, 1, 16)]
    assert site_dates(DAY, DAY, tokyo, now) == [date(2025, 1, 14), date(2025, 1, 15)]
    assert site_dates(DAY, DAY, zone("UTC"), now) == [DAY]
    # A week of local days lists eight UTC dates, never one the site cannot have yet.
    assert len(site_dates(date(2025, 1, 1), date(2025, 1, 7), la, now)) == 8
    assert site_dates(date(2025, 1, 20), date(2025, 1, 20), la, now) == [date(2025, 1, 20)]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["coverage", "--from", "2025-01-15", "--to", "2025-01-15", "--timezone", "Mars/X"], {},
         "--timezone: unknown time zone 'Mars/X'"),
        (["once", "--date", "2025-01-15"], {"GATECAM_TIMEZONE": "PST8PDT7"},
         "GATECAM_TIMEZONE: unknown time zone 'PST8PDT7'"),
    ],
)  # fmt: skip
def test_an_unknown_zone_is_one_line_and_exit_2(
    args: list[str],
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, _, err = run_main(capsys, *args)
    assert code == 2
    assert err.startswith(f"gatecam: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "data").exists()
