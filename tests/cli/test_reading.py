"""stats, web, settings: the commands that read the archive and the settings."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from gatecam.settings import DownloadConfig
from tests.fixtures_db import sqlite_only
from tests.helpers import GATECAM, free_port, run_main, wait_for


def test_stats_json_is_one_object_with_every_key(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    code, out, _ = run_main(capsys, "stats", "--json", "--database-url", database_url)
    assert code == 0
    data = json.loads(out)
    assert data["total_downloaded"] == 0 and data["last_download"] is None
    # The statistics' twelve keys, and each stream's state (none has run yet).
    assert len(data) == 13 and data["streams"] == {}


def test_stats_names_an_unknown_terminal(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    code, _, err = run_main(capsys, "stats", "--terminal", "zzz", "--database-url", database_url)
    assert code == 2 and "no terminal 'zzz'" in err and err.count("\n") == 1


# The command on one backend: the web layer's reads on both are tested in-process (tests/web).
@sqlite_only
def test_web_serves_the_archive_until_sigterm(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*GATECAM, "web", "--port", str(port), "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )

    def answering() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).is_success
        return False

    try:
        wait_for(answering, "gatecam web to answer", proc=proc)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{port}" in out


def test_settings_shows_each_effective_value_and_where_it_came_from(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATECAM_DATABASE_URL", "postgresql+psycopg://gate:s3cret@db.example/gc")
    monkeypatch.setenv("GATECAM_WEB_TOKEN", "t0ken-value")
    env_file = tmp_path / "gatecam.env"
    env_file.write_text(
        "# the service's settings\n"
        "GATECAM_TERMINAL=fit\n"
        'GATECAM_CONCURRENCY="4"\n'
        "GATECAM_DATABASE_URL=sqlite:///the-environment-wins.db\n"
    )
    flags = ["--streams", "in_gate,out_gate", "--concurrency", "3"]
    code, out, err = run_main(capsys, "settings", "--env-file", str(env_file), *flags)
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split() == ["SETTING", "VALUE", "FROM"]
    rows = {line.split()[0]: line.split()[1:] for line in lines}
    assert len(rows) == len(lines) == len(DownloadConfig.model_fields)
    assert rows["GATECAM_DATABASE_URL"] == [
        "postgresql+psycopg://gate:***@db.example/gc",
        "environment",
        "(GATECAM_DATABASE_URL)",
    ]
    assert rows["GATECAM_TERMINAL"] == ["fit", "env", "file", "(GATECAM_TERMINAL)"]
    assert rows["GATECAM_CONCURRENCY"] == ["3", "flag", "(--concurrency)"]
    assert rows["GATECAM_STREAMS"] == ["in_gate,out_gate", "flag", "(--streams)"]
    assert rows["GATECAM_DOWNLOAD_DIR"] == ["data/images", "default"]
    assert rows["GATECAM_STORAGE_URL"] == ["unset", "default"]
    assert rows["GATECAM_WEB_TOKEN"][-2:] == ["environment", "(GATECAM_WEB_TOKEN)"]
    assert "s3cret" not in out and "t0ken" not in out


def test_settings_refuses_what_any_command_would_refuse(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "settings", "--env-file", str(tmp_path / "none.env"))
    assert code == 2 and err.startswith("gatecam: error: --env-file: ") and err.count("\n") == 1
    (tmp_path / "bad.env").write_text("GATECAM_TERMINAL\n")
    code, _, err = run_main(capsys, "settings", "--env-file", str(tmp_path / "bad.env"))
    assert code == 2 and "bad.env line 1: NAME=value expected" in err
    monkeypatch.setenv("GATECAM_STREAM", "in_gate")
    code, _, err = run_main(capsys, "settings")
    assert code == 2 and "did you mean GATECAM_STREAMS?" in err
