"""SIGTERM while every download trickles in: `gatecam once` still exits within seconds."""

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

from gatecam.database.engine import Database
from gatecam.sources.draydog.standin import Catalogue, StandIn
from tests.helpers import image_rows, iter_archive, wait_for

BATCH_SIZE = 5


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A stand-in whose yesterday holds 20 images, on a stopped clock."""
    now = datetime.now(UTC).replace(microsecond=0)
    yesterday = datetime.combine(now.date() - timedelta(days=1), clock_time(), UTC)
    with StandIn(catalogue=Catalogue(clock=lambda: now, scheduled=False)) as site:
        for n in range(20):
            site.catalogue.add("apm", "in_gate", yesterday + timedelta(minutes=61 * n, seconds=n))
        yield site


@pytest.mark.browser
def test_sigterm_ends_stalled_downloads_within_seconds_and_keeps_what_was_stored(
    standin: StandIn, tmp_path: Path
) -> None:
    day = standin.catalogue.today() - timedelta(days=1)
    url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    images = tmp_path / "images"
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": url,
        "GATECAM_DOWNLOAD_DIR": str(images),
        "GATECAM_APP_URL": standin.app_url,
        "GATECAM_CDN_URL": standin.cdn_url,
        "GATECAM_BATCH_SIZE": str(BATCH_SIZE),
        "GATECAM_CONCURRENCY": "2",
    }
    args = [sys.executable, "-m", "gatecam", "once", "--date", str(day)]
    proc = subprocess.Popen(
        args, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    db: Database | None = None
    try:
        # The first batch is stored whole; from then on every image trickles a byte at a time.
        wait_for(lambda: len(list(iter_archive(images))) >= BATCH_SIZE, "a batch", proc=proc)
        standin.inject("trickle", times=None, delay=0.5)
        asked = standin.cdn_requests
        wait_for(lambda: standin.cdn_requests >= asked + 2, "trickling downloads", proc=proc)
        proc.send_signal(signal.SIGTERM)
        # A bound, not a sleep: without the stop reaching the downloads this runs out.
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Traceback" not in out
    db = Database(url, create=False)
    try:
        stored = {ref.timestamp for ref, _ in iter_archive(images)}
        rows = {row.timestamp for row in image_rows(db)}
        assert len(stored) >= BATCH_SIZE
        assert rows == stored
    finally:
        db.dispose()
