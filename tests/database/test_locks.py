"""Job claims across real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.database.engine import Database
from gatecam.database.locks import claim, finished_since, lock_key
from gatecam.database.models import DownloadRun

# A second gatecam process: claims the stream, says so, and holds it until stdin closes.
HOLDER = textwrap.dedent(
    """
    import sys
    from gatecam.database.engine import Database
    from gatecam.database.locks import claim

    db = Database(sys.argv[1])
    with claim(db, "apm", "in_gate") as held:
        print("held" if held else "busy", flush=True)
        sys.stdin.read()
    db.dispose()
    """
)


@pytest.fixture
def holder(database: Database) -> Iterator[subprocess.Popen[str]]:
    """Another process holding apm/in_gate on the same database."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def claimable(database: Database, stream: str = "in_gate") -> bool:
    with claim(database, "apm", stream) as held:
        return held


def test_one_holder_per_stream_at_a_time(database: Database) -> None:
    with claim(database, "apm", "in_gate") as first:
        assert first
        # Another claim, even from this process, is another instance: it must skip.
        assert not claimable(database)
        assert claimable(database, "out_gate")
        with claim(database, "fms", "in_gate") as other_terminal:
            assert other_terminal
    assert claimable(database)
    assert claimable(database)  # released again after each use


def test_a_claim_held_by_another_process_is_skipped(
    database: Database, holder: subprocess.Popen[str]
) -> None:
    assert not claimable(database)
    assert claimable(database, "out_gate")
    assert holder.stdin is not None
    holder.stdin.close()  # the holder finishes its job and exits
    assert holder.wait(timeout=30) == 0
    assert claimable(database)


def test_a_holder_killed_with_sigkill_holds_nothing(
    database: Database, holder: subprocess.Popen[str]
) -> None:
    assert not claimable(database)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    # The kernel closes the dead process's socket and lock file at once; PostgreSQL ends that
    # session as soon as it reads the EOF, which takes a few milliseconds at most.
    deadline = time.monotonic() + 2
    while not claimable(database):
        assert time.monotonic() < deadline, "the killed holder's claim was not released"
        time.sleep(0.01)


def test_the_key_is_the_same_in_every_process() -> None:
    code = "from gatecam.database.locks import lock_key; print(lock_key('apm', 'in_gate'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(other) == lock_key("apm", "in_gate")
    assert lock_key("apm", "in_gate") != lock_key("apm", "out_gate")
    assert -(2**63) <= lock_key("apm", "in_gate") < 2**63


def test_sqlite_lock_files_sit_beside_the_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gatecam.db'}")
    try:
        with claim(db, "apm", "in_gate") as held:
            assert held
        assert (tmp_path / "gatecam.db.locks" / "apm__in_gate.lock").is_file()
    finally:
        db.dispose()


def test_a_tick_is_done_once_a_run_of_it_has_ended(database: Database) -> None:
    tick = datetime(2025, 9, 1, 20, 10, tzinfo=UTC)
    with database.session_scope() as session:
        session.add_all(
            [
                DownloadRun(terminal="apm", camera_id="in_gate", started_at=tick, status="failed"),
                # Killed mid-job: still "running", so out_gate's job is still due this tick.
                DownloadRun(
                    terminal="apm", camera_id="out_gate", started_at=tick, status="running"
                ),
                DownloadRun(
                    terminal="fms",
                    camera_id="in_gate",
                    started_at=tick - timedelta(minutes=10),
                    status="success",
                ),
            ]
        )
    assert finished_since(database, "apm", "in_gate", tick)
    assert not finished_since(database, "apm", "in_gate", tick + timedelta(seconds=1))
    assert not finished_since(database, "apm", "out_gate", tick)
    assert not finished_since(database, "fms", "in_gate", tick)
