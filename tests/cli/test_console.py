"""What every command shares on the way out: log lines, the version, the help."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import logging
import re
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from gatecam.archive import Archive
from gatecam.cli.console import setup_logging
from gatecam.database.engine import Database
from gatecam.storage import LocalStore
from gatecam.web import create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import run_main


def test_log_lines_have_one_iso_format_on_a_terminal_and_off_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Backfill logs through its bar's console on a terminal: the lines look the same."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=60, soft_wrap=True)
    long = "SIGINT received: finishing the batch in flight " + "x" * 60
    try:
        setup_logging(console=terminal)
        logging.getLogger("gatecam").info(long)
        setup_logging()
        logging.getLogger("gatecam").info(long)
    finally:
        root.handlers[:], root.level = saved
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    for output in (shown, capsys.readouterr().err):
        line = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 INFO " + re.escape(long) + "\n"
        assert re.fullmatch(line, output), output


@sqlite_only
def test_the_version_is_on_the_command_line_and_in_healthz(
    capsys: pytest.CaptureFixture[str], database: Database, tmp_path: Path
) -> None:
    """A bug report names the version; a monitor reads it from /healthz."""
    installed = importlib.metadata.version("gatecam")
    code, out, _ = run_main(capsys, "--version")
    assert (code, out) == (0, f"gatecam {installed}\n")

    async def healthz() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(Archive(database, LocalStore(tmp_path))))
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get("/healthz")

    assert asyncio.run(healthz()).json()["version"] == installed
