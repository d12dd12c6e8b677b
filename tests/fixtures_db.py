"""Real databases for tests: a fresh SQLite file, or the local PostgreSQL server reset to empty."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.errors
import psycopg.sql
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade

# Not a GATECAM_ variable: those are settings, and unknown ones are rejected.
BASE_POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)


def _worker_url(url: str) -> str:
    """Under pytest-xdist, each worker's own database beside the configured one.

    Tests drop and recreate the public schema, so two workers on one database would wipe
    each other's tables mid-test.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


POSTGRES_URL = _worker_url(BASE_POSTGRES_URL)


@functools.cache
def ensure_database(url: str) -> None:
    """Create the database of ``url`` if the server lacks it (once per process).

    CREATE DATABASE cannot run in a transaction, hence psycopg in autocommit, connected to
    the server's ``postgres`` database.
    """
    parsed = make_url(url)
    name = parsed.database or ""
    admin = parsed.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
                )


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
    """An empty public schema in the database of ``url``, created if need be."""
    ensure_database(url)
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        db.dispose()


class ServerLock:
    """Held shared by each test that uses the PostgreSQL server, exclusive by one that stops it.

    Parallel workers each have a database of their own but share the one server: a test that
    stops the server must not pull it from under a test running in another worker. flock
    locks belong to the open file, so one lock object moves between shared and exclusive.
    """

    PATH = Path(tempfile.gettempdir()) / f"gatecam-tests-{make_url(BASE_POSTGRES_URL).port}.lock"

    def __init__(self) -> None:
        self._file = self.PATH.open("a")
        fcntl.flock(self._file, fcntl.LOCK_SH)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No other test uses the server until the block ends."""
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._file, fcntl.LOCK_SH)

    def close(self) -> None:
        self._file.close()


@pytest.fixture
def postgres_server() -> Iterator[ServerLock]:
    """The PostgreSQL server, not stopped by another test while this one runs."""
    lock = ServerLock()
    try:
        yield lock
    finally:
        lock.close()


@pytest.fixture
def postgres_alone(postgres_server: ServerLock) -> Iterator[None]:
    """The PostgreSQL server for this test alone: it may stop and start it."""
    with postgres_server.exclusive():
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database with no schema, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gatecam.db'}"
    request.getfixturevalue("postgres_server")
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
