"""stats, web, settings: the commands that read the archive and the settings."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

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
