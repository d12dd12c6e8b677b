"""`gatecam web --streams`: /healthz judges the streams it is given, not every one that ran."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.queries import ImageRecord
from tests.helpers import free_port


def served_health(tmp_path: Path, *flags: str) -> httpx.Response:
    port = free_port()
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": f"sqlite:///{tmp_path / 'gatecam.db'}",
        "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
    }
    args = [sys.executable, "-m", "gatecam", "web", "--port", str(port), *flags]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "web did not start"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def test_web_judges_the_streams_given_with_streams(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gatecam.db'}")
    try:
        upgrade(db)
        with db.session_scope() as session:
            for stream, status in (("in_gate", "success"), ("side_gate", "failed")):
                run = queries.start_run(session, "apm", stream, [f"{datetime.now(UTC):%Y-%m-%d}"])
                queries.finish_run(
                    session, run, status=status, discovered=5, downloaded=5 * (status ==
                    "success"), failed=0, pending=0, error=None if status == "success" else "gone",
                )  # fmt: skip
            now = datetime.now(UTC)
            key = f"apm/in_gate/{now:%Y-%m-%d/%H%M%S}.jpg"
            queries.insert_images(session, [ImageRecord("apm", "in_gate", key, now, 100)])
    finally:
        db.dispose()

    # Without --streams, side_gate (it ran today) would be judged: see test_outcomes.py.
    given = served_health(tmp_path, "--streams", "in_gate")

    assert given.status_code == 200, given.text
    assert [s["stream"] for s in given.json()["streams"]] == ["in_gate"]
