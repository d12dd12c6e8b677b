"""Ctrl-C during run, once and backfill: a calm last line, exit 130, what was stored kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest

from gatecam.database.engine import Database
from gatecam.sources.draydog.standin import Catalogue, StandIn
from tests.helpers import GATECAM, image_rows, wait_for

# Enough that downloads at 0.2 s each, two at a time, are still going when the signal lands.
IMAGES = 40
CALM = re.compile(
    r"gatecam: stopped by Ctrl-C; (\d+) images? stored, the next run picks up the rest"
)


@pytest.fixture
def slow_site() -> Iterator[StandIn]:
    """A stand-in whose last two days and today hold 40 images each, on a stopped clock."""
    now = datetime.now(UTC).replace(microsecond=0)
    midnight = datetime.combine(now.date(), clock_time(), UTC)
    with StandIn(catalogue=Catalogue(clock=lambda: now, scheduled=False)) as site:
        for back in (2, 1):
            for n in range(IMAGES):
                ts = midnight - timedelta(days=back, minutes=-35 * n, seconds=-n)
                site.catalogue.add("apm", "in_gate", ts)
        # Today's, all published before the stopped clock's now (none in its first minutes).
        step = (now - timedelta(minutes=2) - midnight) / IMAGES
        for n in range(IMAGES if step > timedelta(0) else 0):
            site.catalogue.add("apm", "in_gate", midnight + step * n)
        site.latency = 0.2  # downloads take long enough to be caught in the middle
        yield site


def _ctrl_c(site: StandIn, tmp_path: Path, *args: str) -> tuple[str, str, int]:
    """Start ``gatecam *args``, press Ctrl-C once downloads run; its output and stored rows."""
    url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": url,
        "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
        "GATECAM_APP_URL": site.app_url,
        "GATECAM_CDN_URL": site.cdn_url,
        "GATECAM_CONCURRENCY": "2",
        "GATECAM_BATCH_SIZE": "10",
    }
    # A session of its own, like a shell's job: Ctrl-C sends SIGINT to the whole group,
    # the browser and its driver included.
    proc = subprocess.Popen(
        [*GATECAM, *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: site.cdn_requests > 0, "the downloads", proc=proc)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "error" not in err.lower(), err
    db = Database(url, create=False)
    try:
        rows = len(image_rows(db))
    finally:
        db.dispose()
    return out, err, rows


def _stored(err: str) -> int:
    last = err.rstrip("\n").splitlines()[-1]
    found = CALM.fullmatch(last)
    assert found, err
    return int(found.group(1))


@pytest.mark.browser
def test_ctrl_c_during_once_ends_calmly_and_says_what_was_stored(
    slow_site: StandIn, tmp_path: Path
) -> None:
    day = slow_site.catalogue.today() - timedelta(days=1)
    out, err, rows = _ctrl_c(slow_site, tmp_path, "once", "--date", str(day))
    assert _stored(err) == rows < 2 * IMAGES  # the LA day spans two UTC dates of 40 each
    assert "stopped before the run ended" in out  # the run's own line says it was cut short


@pytest.mark.browser
def test_ctrl_c_during_backfill_ends_with_its_summary_then_calmly(
    slow_site: StandIn, tmp_path: Path
) -> None:
    today = slow_site.catalogue.today()
    first, last = today - timedelta(days=2), today - timedelta(days=1)
    out, err, rows = _ctrl_c(
        slow_site, tmp_path, "backfill", "--from", str(first), "--to", str(last)
    )
    assert _stored(err) == rows < 3 * IMAGES
    assert re.search(rf"^backfill: 2 days, \d+ runs? .*, {rows} images? stored, ", out, re.M), out


@pytest.mark.browser
def test_ctrl_c_during_run_ends_calmly_with_exit_130(slow_site: StandIn, tmp_path: Path) -> None:
    if not slow_site.catalogue.list("apm", "in_gate", slow_site.catalogue.today()):
        pytest.skip("in the first minutes of a UTC day no image of today is published yet")
    _, err, rows = _ctrl_c(slow_site, tmp_path, "run")
    assert _stored(err) == rows < IMAGES
