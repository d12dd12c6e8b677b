"""Several `gatecam run` on one PostgreSQL and one bucket share the work.

Three real processes, six streams on two terminals, a short interval, one instance killed
with SIGKILL mid-way: every image stored once, fetched from the CDN once, every stream's job
run in every tick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.models import DownloadRun, Image
from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue
from gatecam.storage.s3 import S3Store
from tests.fixtures_db import POSTGRES_URL, reset_postgres
from tests.helpers import wait_for

pytestmark = pytest.mark.browser

TARGETS = [f"{t}/{s}" for t in ("apm", "fms") for s in ("in_gate", "out_gate", "rail")]
INTERVAL_SECONDS = 12  # an idle pass over 6 streams takes well under a second; 12 leaves room
# Whole ticks after the first pass in which every stream must run exactly once.
CHECKED_TICKS = 2
IMAGES = 12


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "gatecam", "run", "--interval", str(INTERVAL_SECONDS / 60)]
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def site() -> Iterator[StandIn]:
    """A stand-in whose today holds a dozen images per stream, so a tick is quick."""
    now = datetime.now(UTC).replace(microsecond=0)
    if now - now.replace(hour=0, minute=0, second=0) < timedelta(hours=1):
        pytest.skip("too soon after UTC midnight for a day with images on every stream")
    if now.replace(hour=23, minute=59, second=59) - now < timedelta(minutes=5):
        pytest.skip("too close to UTC midnight: the instances would cross into a new day")
    with StandIn(catalogue=Catalogue(scheduled=False)) as standin:
        for target in TARGETS:
            terminal, stream = target.split("/")
            # One soon after midnight, as on the real site: the day starts at UTC midnight.
            standin.catalogue.add(terminal, stream, now.replace(hour=0, minute=5, second=7))
            for n in range(1, IMAGES):
                standin.catalogue.add(terminal, stream, now - timedelta(minutes=4 * n, seconds=n))
        yield standin


def test_three_instances_fetch_each_image_once_and_run_every_stream_every_tick(
    site: StandIn,
    s3_endpoint: str,
    bucket: str,
    aws_environ: None,
    tmp_path: Path,
) -> None:
    standin = site
    reset_postgres(POSTGRES_URL)
    db = Database(POSTGRES_URL)
    upgrade(db)
    standin.latency = 0.02
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": POSTGRES_URL,
        "GATECAM_STORAGE_URL": f"s3://{bucket}/archive",
        "GATECAM_S3_ENDPOINT_URL": s3_endpoint,
        "GATECAM_STREAMS": ",".join(TARGETS),
        "GATECAM_APP_URL": standin.app_url,
        "GATECAM_CDN_URL": standin.cdn_url,
    }
    procs = [_start(env, tmp_path / f"instance-{n}.log") for n in range(3)]

    def finished_streams() -> set[str]:
        with db.session_scope() as session:
            done = session.execute(
                select(DownloadRun.terminal, DownloadRun.camera_id).where(
                    DownloadRun.status.in_(("success", "failed"))
                )
            ).all()
        return {f"{terminal}/{stream}" for terminal, stream in done}

    def runs_open_before(end: float) -> list[int]:
        with db.session_scope() as session:
            return list(
                session.scalars(
                    select(DownloadRun.pid).where(
                        DownloadRun.status == "running",
                        DownloadRun.started_at < datetime.fromtimestamp(end, UTC),
                    )
                )
            )

    try:
        # Kill one instance while the first tick is downloading.
        wait_for(lambda: standin.cdn_requests > 0, "the first downloads", proc=procs[1])
        procs[0].send_signal(signal.SIGKILL)
        # The first pass downloads everything and may outlast a tick; the check covers the
        # whole slots after it, once each is over and every run begun in it (by the instances
        # still alive) has finished.
        wait_for(
            lambda: finished_streams() == set(TARGETS),
            "the first pass over every stream",
            timeout=180,
            proc=procs[1],
        )
        first = int(time.time() // INTERVAL_SECONDS) + 1
        end = (first + CHECKED_TICKS) * INTERVAL_SECONDS
        wait_for(
            lambda: (
                time.time() > end + 1 and all(pid == procs[0].pid for pid in runs_open_before(end))
            ),
            "two whole ticks after the first pass",
            timeout=180,
            proc=procs[1],
        )
    finally:
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    logs = "\n".join(p.read_text() for p in tmp_path.glob("instance-*.log"))
    assert [p.returncode for p in procs[1:]] == [0, 0], logs
    assert "Traceback" not in logs

    with db.session_scope() as session:
        rows = session.execute(select(Image.terminal, Image.camera_id, Image.timestamp)).all()
        runs = session.scalars(select(DownloadRun)).all()
    db.dispose()

    # Every image the site lists today is held once, in the bucket and in the database.
    today = datetime.now(UTC).date()
    expected = {
        (t, s, ts)
        for t, s in (target.split("/") for target in TARGETS)
        for ts in standin.catalogue.list(t, s, today)
    }
    held = {(t, s, ts) for t, s, ts in rows}
    assert held == expected and len(expected) == IMAGES * len(TARGETS)
    assert len(rows) == len(held)
    store = S3Store(bucket, "archive", endpoint_url=s3_endpoint)
    assert len(list(store.keys())) == len(rows)
    # Each fetched once: at most the downloads in flight in the killed instance twice.
    full_gets = standin.cdn_requests - standin.thumbnail_requests
    assert len(rows) <= full_gets <= len(rows) + 8

    # Every stream ran in every checked tick slot, and finished once per slot.
    slots: dict[str, Counter[int]] = defaultdict(Counter)
    for run in runs:
        assert run.host and run.pid
        slot = int(run.started_at.timestamp() // INTERVAL_SECONDS)
        if run.status in ("success", "partial", "failed"):
            slots[f"{run.terminal}/{run.camera_id}"][slot] += 1
    for target in TARGETS:
        checked = range(first, first + CHECKED_TICKS)
        assert all(slots[target][s] == 1 for s in checked), (target, slots[target])
    assert all(run.status != "running" for run in runs if run.pid != procs[0].pid)
