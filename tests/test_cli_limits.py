"""Commands whose input could do harm or run for ever: refused in one line before they start."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.camerahealth import measure
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.model import ImageRef
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.storage import LocalStore, image_key
from tests.fixtures_db import sqlite_only
from tests.helpers import run_main


def _one_line(err: str) -> None:
    assert err.startswith("gatecam: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "127.0.0.1\nExecStartPre=/bin/sh -c 'id > /tmp/owned'"], "--host: "),
        (["--env-file", "/etc/gatecam/x.env\nExecStartPre=/bin/true"], "--env-file: "),
        (["--env-file", "/etc/gatecam/\x1b[2Jx.env"], "--env-file: "),
        (["--no-web", "--env-file", "/etc/gatecam/x\u2028.env"], "--env-file: "),
    ],
)
def test_systemd_unit_refuses_a_value_that_would_add_a_line_to_the_unit(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    # A check of the words alone: no systemd-analyze (nor any other program) to be found.
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = run_main(capsys, "systemd-unit", *args)
    assert code == 2
    _one_line(err)
    assert message in err and "control character" in err
    assert out == ""  # no unit printed, to be redirected into /etc/systemd/system


def test_systemd_unit_still_quotes_an_ordinary_path_with_spaces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_main(capsys, "systemd-unit", "--env-file", "/etc/gate cam/gatecam.env")
    assert code == 0
    assert 'EnvironmentFile="/etc/gate cam/gatecam.env"' in out


def test_a_long_backfill_asks_for_yes_and_says_how_many_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    # "Today" is the terminal's day; pinning its zone keeps the range valid at any hour.
    monkeypatch.setenv("GATECAM_TIMEZONE", "UTC")
    # Were the range let through, the folder check after it would stop the command at once.
    (tmp_path / "a-file").write_text("in the way")
    today = datetime.now(UTC).date()
    first = today - timedelta(days=3652)
    args = ["--from", str(first), "--to", str(today), "--streams", "a,b"]
    code, _, err = run_main(capsys, "backfill", *args, "--download-dir", "a-file")
    assert code == 2
    _one_line(err)
    assert "3,653 days: 7,306 runs" in err and "--yes" in err
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]  # no database, no folder


def test_a_month_of_backfill_needs_no_yes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """31 days pass the question: what stops them here is the check after it, the folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATECAM_TIMEZONE", "UTC")
    (tmp_path / "a-file").write_text("in the way")
    today = datetime.now(UTC).date()
    first = str(today - timedelta(days=30))
    args = ["--from", first, "--to", str(today), "--download-dir", "a-file"]
    code, _, err = run_main(capsys, "backfill", *args)
    assert code == 2 and "a-file is a file, not a folder" in err
    code, _, err = run_main(capsys, "backfill", *args, "--from", str(today - timedelta(days=31)))
    assert code == 2 and "32 days: 32 runs" in err


def test_coverage_over_centuries_is_refused_before_the_database_is_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "coverage", "--from", "2026-12-03", "--to", "2999-12-31")
    assert code == 2
    _one_line(err)
    assert "355,410 days" in err and "at most 366" in err
    assert list(tmp_path.iterdir()) == []


@sqlite_only
def test_a_full_disk_during_export_is_not_bad_input(
    capsys: pytest.CaptureFixture[str], database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "images"
    store = LocalStore(root)
    records = []
    start = datetime(2025, 9, 2, 15, tzinfo=UTC)
    for ts in (start, start + timedelta(minutes=10)):
        key = image_key(ImageRef("apm", "in_gate", ts))
        data = render_jpeg("apm", "in_gate", ts, thumbnail=False)
        store.put(key, data)
        figures = measure(data)
        assert figures is not None
        digest = hashlib.sha256(data).hexdigest()
        records.append(ImageRecord("apm", "in_gate", key, ts, len(data), digest, False, *figures))
    with database.session_scope() as session:
        queries.insert_images(session, records)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # The export writes through <name>.part: aimed at /dev/full, every write fails with ENOSPC.
    os.symlink("/dev/full", out_dir / "day.tar.part")
    code, _, err = run_main(
        capsys,
        "export",
        "--stream",
        "in_gate",
        "--date",
        "2025-09-02",
        "--out",
        str(out_dir / "day.tar"),
        "--database-url",
        database.url,
        "--download-dir",
        str(root),
    )
    assert code == 1, err
    _one_line(err)
    assert "No space left on device" in err
    assert list(out_dir.iterdir()) == []
