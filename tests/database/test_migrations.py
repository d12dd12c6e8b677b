"""The schema comes from Alembic on both backends, and the models agree with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from gatecam.database import browse
from gatecam.database.engine import Database, redact
from gatecam.database.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    require_current,
    upgrade,
)
from gatecam.errors import DatabaseError, Unavailable


def test_upgrade_reaches_head_and_models_match_migrations(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        with pytest.raises(DatabaseError, match="gatecam db upgrade"):
            require_current(db)
        upgrade(db)
        upgrade(db)  # a second upgrade is a no-op
        assert current_revision(db) == head_revision()
        require_current(db)
        # Fails if a model changed without a migration (the `alembic check` of CI).
        command.check(alembic_config(db))
    finally:
        db.dispose()


def test_unreachable_database_is_one_clear_line_without_password() -> None:
    db = Database("postgresql+psycopg://gatecam:s3cret@127.0.0.1:9/gatecam")
    # A server that is down is worth retrying: not the "bad input" exit code of a typo.
    with pytest.raises(Unavailable) as info:
        db.check()
    assert info.value.code == 3
    message = str(info.value)
    assert "s3cret" not in message
    assert "127.0.0.1:9" in message
    assert "\n" not in message


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://x/y", "postgresql+nodriver://h/db"])
def test_malformed_database_url_is_rejected(url: str) -> None:
    with pytest.raises(DatabaseError):
        Database(url)


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_a_database_that_does_not_exist_is_bad_input() -> None:
    db = Database("postgresql+psycopg://root@127.0.0.1:5432/no_such_gatecam_db")
    with pytest.raises(DatabaseError) as info:
        db.check()
    assert info.value.code == 2
    assert "no_such_gatecam_db" in str(info.value)


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing" / "x.db"
    with pytest.raises(DatabaseError, match="no database at"):
        Database(f"sqlite:///{missing}", create=False)
    assert not missing.parent.exists()


def test_an_sqlite_path_under_a_file_is_one_clear_line() -> None:
    with pytest.raises(DatabaseError, match="cannot create the database folder /etc/passwd"):
        Database("sqlite:////etc/passwd/x.db")


def test_upgrading_an_archive_with_runs_keeps_its_health(empty_database_url: str) -> None:
    """Health reads the run times kept on the counters: the upgrade fills them from the runs."""
    db = Database(empty_database_url)
    try:
        command.upgrade(alembic_config(db), "0002")
        ended = datetime(2025, 9, 2, 12, 0, tzinfo=UTC)
        with db.engine.begin() as conn:
            for stream, status, minutes in (
                ("in_gate", "success", 30), ("in_gate", "success", 10),
                ("in_gate", "failed", 0), ("out_gate", "failed", 5),
                ("side_gate", "running", 1),
            ):  # fmt: skip
                at = (ended - timedelta(minutes=minutes)).replace(tzinfo=None)
                finished = None if status == "running" else at
                conn.execute(
                    text(
                        "INSERT INTO download_runs (terminal, camera_id, started_at, finished_at,"
                        " status, days, discovered, downloaded, failed, pending)"
                        " VALUES ('apm', :s, :at, :fin, :st, '', 0, 0, 0, 0)"
                    ),
                    {"s": stream, "at": at, "fin": finished, "st": status},
                )
            for stream in ("in_gate", "out_gate"):
                conn.execute(
                    text(
                        "INSERT INTO stream_counters (terminal, camera_id, total, total_runs,"
                        " successful_runs, failed_runs, interrupted_runs, failed_downloads)"
                        " VALUES ('apm', :s, 0, 1, 0, 0, 0, 0)"
                    ),
                    {"s": stream},
                )
        upgrade(db)
        with db.read_scope() as session:
            successes = browse.last_successes(session)
            began = browse.archive_start(session, "apm", "in_gate")
        assert successes == {
            ("apm", "in_gate"): ended - timedelta(minutes=10),
            ("apm", "out_gate"): None,
            ("apm", "side_gate"): None,
        }
        assert began == ended - timedelta(minutes=30)
    finally:
        db.dispose()
