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
import typer
from rich.console import Console
from typer.core import TyperGroup

from gatecam.archive import Archive
from gatecam.cli import app
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


def _summaries(group: TyperGroup) -> dict[str, str]:
    """Each command's summary, read from where its author wrote it: the docstring's first line."""
    found = {}
    for name, command in group.commands.items():
        text = command.callback.__doc__ if command.callback else None
        found[name] = (text or command.help or "").strip().splitlines()[0]
    return found


@pytest.mark.parametrize("args", [[], ["db"]])
def test_help_shows_each_command_summary_whole_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    group = typer.main.get_command(app)
    for name in args:
        group = group.commands[name]
    assert isinstance(group, TyperGroup)
    code, out, _ = run_main(capsys, *args, "--help")
    assert code == 0
    summaries = _summaries(group)
    assert len(summaries) == (15 if not args else 3)
    for name, summary in summaries.items():
        # A complete sentence, on the command's own line: neither cut with "..." nor wrapped.
        assert summary.endswith(".") and not summary.endswith("..."), summary
        assert re.search(rf"^  {re.escape(name)} +{re.escape(summary)}$", out, re.M), out
    assert "..." not in out.partition("Commands:")[2]
    assert max(len(line) for line in out.splitlines()) <= 80
