"""gatecam db: the schema brought up to date, then read."""

from __future__ import annotations

import pytest

from gatecam.database.migrate import head_revision
from tests.helpers import run_main


def test_db_upgrade_then_stats_on_a_new_database(
    capsys: pytest.CaptureFixture[str], empty_database_url: str
) -> None:
    code, out, _ = run_main(capsys, "db", "upgrade", "--database-url", empty_database_url)
    assert code == 0 and out.endswith(f": upgraded none → {head_revision()}\n")  # what it did
    code, out, _ = run_main(capsys, "db", "upgrade", "--database-url", empty_database_url)
    assert code == 0 and f"already at the latest schema ({head_revision()})" in out
    code, out, _ = run_main(capsys, "stats", "--database-url", empty_database_url)
    assert code == 0 and "total_downloaded" in out
