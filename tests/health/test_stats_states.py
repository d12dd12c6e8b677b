"""`gatecam stats` says each stream's state as /healthz does: one definition everywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from tests.fixtures_db import sqlite_only
from tests.helpers import run_main

pytestmark = sqlite_only


def test_stats_tells_each_stream_state_with_since_and_why(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    with database.session_scope() as session:
        for stream, ago in (("in_gate", 2), ("out_gate", 50)):
            at = now - timedelta(minutes=ago)
            run = queries.start_run(session, "apm", stream, [f"{at:%Y-%m-%d}"], at=at)
            queries.finish_run(
                session, run, status="success", discovered=1, downloaded=1, failed=0,
                pending=0, error=None, at=at,
            )  # fmt: skip
            key = f"apm/{stream}/{at:%Y-%m-%d/%H%M%S}.jpg"
            queries.insert_images(session, [ImageRecord("apm", stream, key, at, 100)])

    code, out, err = run_main(capsys, "stats", "--json", "--database-url", database.url)
    assert code == 0, err
    states = json.loads(out)["streams"]
    assert states["apm/in_gate"] == {"state": "ok", "since": None, "reason": None}
    assert states["apm/out_gate"]["state"] == "stale"
    assert states["apm/out_gate"]["reason"] == (
        "apm/out_gate: no run ended well for 50 min (limit 30 min)"
    )

    code, out, _ = run_main(capsys, "stats", "--database-url", database.url)
    assert code == 0
    assert "state apm/in_gate    ok\n" in out
    assert "state apm/out_gate   stale since " in out
