"""Real databases for tests: a fresh SQLite file, or the local PostgreSQL server reset to empty."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
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
from tests.helpers import free_port

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


class OwnPostgres:
    """A PostgreSQL server of one test's own: a fresh cluster in a temporary folder, on a
    free port, that the test may stop and start without touching the shared server.

    The server refuses to run as root, so under root (CI) it runs as the ``postgres`` user.
    """

    def __init__(self, bin_dir: Path, folder: Path, port: int) -> None:
        self.bin_dir, self.folder, self.port = bin_dir, folder, port
        self.url = f"postgresql+psycopg://root@127.0.0.1:{port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{tool} {args}: {done.stdout}{done.stderr}"

    def create(self) -> None:
        # fsync off: the test throws the cluster away, and a synced initdb takes seconds.
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "root",
                  "--no-sync", "-E", "UTF8")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off"
        )
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", log, "-w",
                  "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def ready(self) -> bool:
        probe = [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"]
        return subprocess.run(probe, check=False).returncode == 0


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A running PostgreSQL server of this test's own, at the latest schema; removed after."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL's server programs are not installed")
    folder = Path(tempfile.mkdtemp(prefix="gatecam-own-postgres-"))
    if os.geteuid() == 0:
        # Under /tmp, not tmp_path: pytest's folders are closed to the postgres user.
        shutil.chown(folder, "postgres", "postgres")
    server = OwnPostgres(found[-1].parent, folder, free_port())
    try:
        server.create()
        server.start()
        db = Database(server.url)
        try:
            upgrade(db)
        finally:
            db.dispose()
        yield server
    finally:
        if server.ready():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


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
