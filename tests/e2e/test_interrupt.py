"""Ctrl-C at a terminal: a clean stop, the run recorded as interrupted, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun
from gatecam.database.queries import get_stats
from gatecam.sources.draydog.standin import Catalogue, StandIn
from tests.helpers import sqlite_statuses, wait_for

# Enough that downloads at 0.2 s each, two at a time, are still going when the signal lands.
YESTERDAY_IMAGES = 40


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A stand-in whose yesterday holds 40 images, on a stopped clock.

    Few images keep the page and the downloads short; the stopped clock keeps "yesterday"
    the same day for the site and the test, even across UTC midnight.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    yesterday = datetime.combine(now.date() - timedelta(days=1), clock_time(), UTC)
    with StandIn(catalogue=Catalogue(clock=lambda: now, scheduled=False)) as site:
        for n in range(YESTERDAY_IMAGES):
            site.catalogue.add("apm", "in_gate", yesterday + timedelta(minutes=35 * n, seconds=n))
        yield site


def _runs(db: Database) -> list[tuple[str, str | None]]:
    with db.session_scope() as session:
        return [(r.status, r.error) for r in session.scalars(select(DownloadRun))]


@pytest.mark.browser
@pytest.mark.parametrize("moment", ["discovery", "download"])
def test_ctrl_c_stops_cleanly_and_records_the_run_as_interrupted(
    standin: StandIn, tmp_path: Path, moment: str
) -> None:
    standin.latency = 0.2  # downloads take long enough to be caught in the middle
    day = standin.catalogue.today() - timedelta(days=1)
    url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    args = [sys.executable, "-m", "gatecam", "once", "--date", str(day), "--concurrency", "2"]
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": url,
        "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
        "GATECAM_APP_URL": standin.app_url,
        "GATECAM_CDN_URL": standin.cdn_url,
        # A stop waits for the batch in flight: small batches leave some for it to skip.
        "GATECAM_BATCH_SIZE": "10",
    }
    # A session of its own, like a shell's job: SIGINT to the group is what Ctrl-C sends,
    # and it reaches the browser and its driver too.
    proc = subprocess.Popen(
        args, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    db: Database | None = None
    try:
        if moment == "discovery":
            # The run's row is written before its listing starts. Its file appears before its
            # schema does, so the wait reads the row itself, not the file.
            running = lambda: sqlite_statuses(tmp_path / "gatecam.db") == ["running"]  # noqa: E731
            wait_for(running, "the run to start", proc=proc)
        else:
            wait_for(lambda: standin.cdn_requests > 0, "the downloads", proc=proc)
        db = Database(url, create=False)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert db is not None
    try:
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "Traceback" not in out
        assert err.strip().splitlines()[-1].startswith("gatecam: stopped by Ctrl-C; ")
        assert _runs(db) == [("interrupted", "stopped before the run ended (Ctrl-C or SIGTERM)")]
        with db.session_scope() as session:
            stats = get_stats(session)
        assert stats.last_error is None and stats.failed_runs == 0
        assert stats.interrupted_runs == 1
    finally:
        db.dispose()


@pytest.mark.browser
def test_a_run_left_by_a_killed_process_is_marked_interrupted_at_the_next_start(
    standin: StandIn, tmp_path: Path
) -> None:
    standin.latency = 0.2
    day = standin.catalogue.today() - timedelta(days=1)
    url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": url,
        "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
        "GATECAM_APP_URL": standin.app_url,
        "GATECAM_CDN_URL": standin.cdn_url,
    }
    once = [sys.executable, "-m", "gatecam", "once", "--date", str(day)]
    proc = subprocess.Popen(
        once, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: standin.cdn_requests > 0, "the downloads", proc=proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    db = Database(url, create=False)
    try:
        assert [status for status, _ in _runs(db)] == ["running"]
        standin.latency = 0.0
        again = subprocess.run(once, env=env, text=True, capture_output=True, timeout=300)
        assert again.returncode == 0, again.stderr
        statuses = sorted(status for status, _ in _runs(db))
        assert statuses == ["interrupted", "success"]
    finally:
        db.dispose()
