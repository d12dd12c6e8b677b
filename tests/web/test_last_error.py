"""The overview's "last error" says when, and goes once a later run of its stream succeeded."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.storage import LocalStore
from gatecam.web import create_app
from tests.fixtures_db import sqlite_only
from tests.web.conftest import LA

ERROR = "camera page said HTTP 502"


def overview(database: Database, root: Path) -> str:
    app = create_app(Archive(database, LocalStore(root)))

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get("/")

    page = asyncio.run(ask())
    assert page.status_code == 200
    return re.sub(r"<[^>]+>", "", page.text)


def run(database: Database, status: str, at: datetime, error: str | None = None) -> None:
    with database.session_scope() as session:
        run_id = queries.start_run(session, "apm", "in_gate", ["2025-09-02"])
        queries.finish_run(
            session,
            run_id,
            status=status,
            discovered=3,
            downloaded=0 if error else 3,
            failed=3 if error else 0,
            pending=0,
            error=error,
            at=at,
        )


@sqlite_only
def test_a_failed_run_shows_its_error_with_its_time_and_offset(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    failed = datetime.now(UTC) - timedelta(minutes=23)
    run(database, "failed", failed, ERROR)
    seen = overview(database, tmp_path / "images")
    local = failed.astimezone(LA)
    offset = local.strftime("%z")
    shown = f"{local:%H:%M} {offset[:3]}:{offset[3:]}"
    assert f"last error {shown} (23 min ago): {ERROR}" in seen


@sqlite_only
def test_a_later_successful_run_clears_the_error(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    now = datetime.now(UTC)
    run(database, "failed", now - timedelta(minutes=23), ERROR)
    run(database, "success", now - timedelta(minutes=13))
    seen = overview(database, tmp_path / "images")
    assert f"): {ERROR}" not in seen
    # The fixture's failed run of out_gate had no success after it: its error stays.
    assert "last error" in seen and "): camera page said <b>503</b>" in seen.replace(
        "&lt;", "<"
    ).replace("&gt;", ">")
