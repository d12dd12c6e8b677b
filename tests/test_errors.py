"""The error tree as a script sees it: one line on stderr and one meaning per exit code."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gatecam.cli import main
from gatecam.database.engine import Database
from gatecam.database.locks import claim
from gatecam.errors import Unavailable
from tests.fixtures_db import sqlite_only


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().err


@sqlite_only
def test_a_database_failing_after_start_up_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    db = Database(database_url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE stream_counters"))
    db.dispose()
    code, err = run(capsys, "stats", "--database-url", database_url)
    assert code == 3
    assert err.startswith("gatecam: error: database failed mid-command: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_claim_on_a_server_that_is_down_is_an_outage() -> None:
    db = Database("postgresql+psycopg://root@127.0.0.1:9/test?connect_timeout=2")
    try:
        with pytest.raises(Unavailable) as down, claim(db, "apm", "in_gate"):
            pass
    finally:
        db.dispose()
    assert down.value.code == 3 and "cannot connect to" in str(down.value)
