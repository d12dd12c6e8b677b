"""run, once, backfill: the commands that fetch, against the real stand-in site and Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest

from gatecam.cli.archiving import backfill_summary
from gatecam.downloader.job import RunResult
from gatecam.sources.draydog.standin import Catalogue, StandIn
from tests.fixtures_db import sqlite_only
from tests.helpers import iter_archive, run_main

STREAMS = ("in_gate", "out_gate")
# Images a day of each stream holds: few keep each day's page and downloads short.
PER_DAY = 6


@pytest.fixture
def few_images() -> Iterator[StandIn]:
    """A stand-in whose last five days hold six images per stream each, on a stopped clock.

    The stopped clock keeps the days the same for the site and the test, even across UTC
    midnight; an image is published as soon as its time comes.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    catalogue = Catalogue(clock=lambda: now, scheduled=False, publish_delay=timedelta(0))
    with StandIn(catalogue=catalogue) as site:
        for back in range(1, 6):
            midnight = datetime.combine(now.date() - timedelta(days=back), clock_time(), UTC)
            for stream in STREAMS:
                for n in range(PER_DAY):
                    site.catalogue.add("apm", stream, midnight + timedelta(hours=4 * n, seconds=n))
        yield site


def _listed(site: StandIn, days: list[date], streams: tuple[str, ...] = STREAMS) -> list[datetime]:
    return sorted(ts for s in streams for d in days for ts in site.catalogue.list("apm", s, d))


@sqlite_only
@pytest.mark.browser
def test_once_archives_then_skips_then_picks_up_new_images(
    capsys: pytest.CaptureFixture[str], few_images: StandIn, database_url: str, tmp_path: Path
) -> None:
    site = few_images
    images = tmp_path / "images"
    archive = ["--database-url", database_url, "--download-dir", str(images)]
    where = [*archive, "--app-url", site.app_url, "--cdn-url", site.cdn_url]
    day = site.catalogue.today() - timedelta(days=3)
    both = [day, day + timedelta(days=1)]
    once = ["once", "--date", str(day), "--streams", ",".join(STREAMS), *where]

    code, out, err = run_main(capsys, *once)
    assert code == 0, err
    # Each run's line once, on stdout; the log says nothing of a scheduler `once` never ran.
    assert out.count("apm/in_gate ") == out.count("apm/out_gate ") == 1
    assert " listed" not in err and "scheduler" not in err
    # The Los Angeles day spans two UTC dates of the site: both are listed and stored.
    assert f"{day},{day + timedelta(days=1)}: " in out
    expected = _listed(site, both)
    assert len(expected) == 2 * len(STREAMS) * PER_DAY
    assert sorted(ref.timestamp for ref, _ in iter_archive(images)) == expected

    before = {path: path.stat().st_mtime_ns for _, path in iter_archive(images)}
    code, out, err = run_main(capsys, *once)
    assert code == 0, err
    assert out.count(" 0 stored") == len(STREAMS)
    assert {path: path.stat().st_mtime_ns for _, path in iter_archive(images)} == before

    # Today's first image, whatever the hour: half way between midnight and the site's now.
    now = site.catalogue.now()
    new = (now - (now - datetime.combine(now.date(), clock_time(), UTC)) / 2).replace(microsecond=0)
    site.catalogue.add("apm", "in_gate", new)
    code, _, err = run_main(capsys, "once", *where)
    assert code == 0, err
    assert (images / "apm" / "in_gate" / f"{new:%Y-%m-%d}" / f"{new:%H%M%S}.jpg").is_file()

    code, out, err = run_main(capsys, "stats", "--json", "--database-url", database_url)
    assert code == 0, err
    data = json.loads(out)
    assert data["total_downloaded"] == len(list(iter_archive(images))) == len(expected) + 1
    assert data["downloads_by_stream"]["out_gate"] == len(_listed(site, both, ("out_gate",)))
    assert data["successful_runs"] == data["total_runs"] == 5
    assert datetime.fromisoformat(data["last_download"]).utcoffset() == timedelta(0)

    verify = ["verify", *archive]
    assert run_main(capsys, *verify)[0] == 0
    lost = next(path for ref, path in iter_archive(images) if ref.timestamp.date() == day)
    lost.unlink()
    code, out, _ = run_main(capsys, *verify)
    assert code == 1 and "file is gone: 1" in out
    assert run_main(capsys, *verify, "--repair")[0] == 0
    # The row marked missing is fetched again by the next pass over its day.
    code, _, err = run_main(capsys, "once", "--date", str(day), *where)
    assert code == 0, err
    assert lost.is_file()
    assert run_main(capsys, *verify)[0] == 0


_SUMMARY = r"backfill: {days} days, {runs} runs \(0 not successful\), {stored} images stored, "
_SUMMARY += r"0 missed, in (\d+\.\d s|\d+ min \d+ s)\n"


@sqlite_only
@pytest.mark.browser
def test_backfill_archives_each_day_and_skips_what_is_archived(
    capsys: pytest.CaptureFixture[str], few_images: StandIn, database_url: str, tmp_path: Path
) -> None:
    standin = few_images
    today = standin.catalogue.today()
    first, second, third = (today - timedelta(days=n) for n in (4, 3, 2))
    common = [
        "--database-url",
        database_url,
        "--download-dir",
        str(tmp_path),
        "--app-url",
        standin.app_url,
        "--cdn-url",
        standin.cdn_url,
    ]
    code, out, err = run_main(
        capsys, "backfill", "--from", str(first), "--to", str(second), *common
    )
    assert code == 0, err
    # The Los Angeles days span one more UTC date of the site: each date is one run.
    days = [first, second, third]
    assert out.count(" listed, ") == 3
    archived = sorted(ref.timestamp for ref, _ in iter_archive(tmp_path))
    assert archived == _listed(standin, days, ("in_gate",))
    # The last line says what the whole backfill did.
    assert re.search(_SUMMARY.format(days=2, runs=3, stored=3 * PER_DAY) + r"\Z", out), out
    before = {path: path.stat().st_mtime_ns for _, path in iter_archive(tmp_path)}

    code, out, err = run_main(capsys, "backfill", "--from", str(first), "--to", str(third), *common)

    assert code == 0, err
    assert out.count(" 0 stored") == 3  # the three UTC dates already archived
    assert {p: p.stat().st_mtime_ns for p in before} == before
    yesterday = today - timedelta(days=1)
    new = [ref.timestamp for ref, _ in iter_archive(tmp_path) if ref.timestamp.date() == yesterday]
    assert sorted(new) == _listed(standin, [yesterday], ("in_gate",))
    assert re.search(_SUMMARY.format(days=3, runs=4, stored=PER_DAY) + r"\Z", out), out


def test_the_backfill_summary_counts_what_every_run_did() -> None:
    done = RunResult("apm", "in_gate", downloaded=5)
    failed = RunResult("apm", "out_gate", error="the page did not load")
    line = backfill_summary(3, [done, failed, RunResult("apm", "x", skipped=True)], 125.4)
    assert line == (
        "backfill: 3 days, 3 runs (1 not successful), 5 images stored, 0 missed, in 2 min 5 s"
    )
    one = RunResult("apm", "in_gate", downloaded=1)
    assert backfill_summary(1, [one], 0.42) == (
        "backfill: 1 day, 1 run (0 not successful), 1 image stored, 0 missed, in 0.4 s"
    )
