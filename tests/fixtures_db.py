"""Real databases for tests: a fresh SQLite file, or the local PostgreSQL server reset to empty."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade

# Not a GATECAM_ variable: those are settings, and unknown ones are rejected.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


_NOT_FROM_THE_DEVELOPER = ("DATABASE_URL", "INVOCATION_ID", "JOURNAL_STREAM")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own GATECAM_* settings out of every test.

    A test run started by systemd (a CI runner service) would also log in the journal's
    format: tests that want it set INVOCATION_ID themselves.
    """
    for name in list(os.environ):
        if name.startswith("GATECAM_") or name in _NOT_FROM_THE_DEVELOPER:
            monkeypatch.delenv(name)


def reset_postgres(url: str) -> None:
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database with no schema, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gatecam.db'}"
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """The URL of an empty database at the latest schema, on each backend."""
    db = Database(empty_database_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    return empty_database_url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    # Every session must have gone back to the pool (APScheduler's leak check, adapted).
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    db.dispose()


# For tests of the job's behaviour, where the database is not what is under test: SQLite
# alone keeps the suite short; persistence, recovery and instance tests run on both.
sqlite_only = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
