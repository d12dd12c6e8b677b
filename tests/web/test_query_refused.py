"""Query parameters come from people too: a bad one is a 400 that says what is wrong."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.storage import LocalStore
from gatecam.web import create_app
from tests.fixtures_db import sqlite_only


def _get(database: Database, root: Path, path: str, **params: str) -> httpx.Response:
    async def get() -> httpx.Response:
        app = create_app(Archive(database, LocalStore(root)))
        # A crash must show as the 500 a browser would get, not as an exception in the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get(path, params=params)

    return asyncio.run(get())


@sqlite_only
@pytest.mark.parametrize("fps", ["²", "١٢", "12.5", "-1", "9" * 5000, ""])
def test_a_timelapse_fps_that_is_not_a_whole_number_is_a_400(
    database: Database, tmp_path: Path, fps: str
) -> None:
    answer = _get(database, tmp_path, "/apm/in_gate/2025-09-02/timelapse.mp4", fps=fps)
    assert answer.status_code == 400
    assert "fps must be a whole number from 1 to 60" in answer.text


@sqlite_only
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9999-12-31", "from '9999-12-31' is out of range: years 1970 to 2999 only"),
        ("0001-01-01T00:00:00", "from '0001-01-01T00:00:00' is out of range"),
        ("9999-12-31T23:00:00-05:00", "is out of range"),
        ("2025-13-01", "from '2025-13-01' is not an ISO 8601 date or date-time"),
    ],
)
def test_a_from_time_says_whether_it_is_malformed_or_out_of_range(
    database: Database, tmp_path: Path, value: str, message: str
) -> None:
    answer = _get(database, tmp_path, "/api/images", **{"from": value})
    assert answer.status_code == 400
    assert message in answer.json()["error"]
