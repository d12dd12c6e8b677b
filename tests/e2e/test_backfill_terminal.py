"""`gatecam backfill` in a terminal: the bar, result lines and log lines never share a line."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue

# Colours change nothing; cursor moves and erases end a line as surely as a newline does.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(scheduled=False)) as standin:
        yield standin


def _in_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), output.decode("utf-8", "replace")


@pytest.mark.browser
def test_backfill_in_a_terminal_keeps_bar_results_and_logs_apart(
    site: StandIn, tmp_path: Path
) -> None:
    """Log lines used to land in the middle of the progress bar."""
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (2, 1)]
    for day in days:
        for minute in (5, 17, 29):
            site.catalogue.add(
                "apm", "in_gate", datetime(*day.timetuple()[:3], 3, minute, tzinfo=UTC)
            )
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": f"sqlite:///{tmp_path / 'gatecam.db'}",
        "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
        "GATECAM_APP_URL": site.app_url,
        "GATECAM_CDN_URL": site.cdn_url,
        # UTC days: one run per day asked for (a Los Angeles range lists one UTC date more).
        "GATECAM_TIMEZONE": "UTC",
        "COLUMNS": "120",
        "TERM": "xterm",
    }
    args = [
        sys.executable,
        "-m",
        "gatecam",
        "backfill",
        "--from",
        str(days[0]),
        "--to",
        str(days[1]),
    ]
    code, screen = _in_a_terminal([*args, "--verbose"], env)

    assert code == 0, screen
    lines = [
        line for line in _CONTROL.sub("\n", _COLOUR.sub("", screen)).split("\n") if line.strip()
    ]
    results = [line for line in lines if " listed, " in line]
    assert sorted(results) == [
        f"apm/in_gate {day}: 3 listed, 3 stored, 0 failed, 0 not published yet" for day in days
    ]
    bars = [line for line in lines if "━" in line]
    assert bars, "no progress bar was drawn"
    assert all(re.fullmatch(r"\W*apm/in_gate \S+ [━╺╸ ]+\d/2 \d:\d\d:\d\d\s*", b) for b in bars), (
        bars
    )
    assert any("DEBUG" in line for line in lines)  # the log had something to say
