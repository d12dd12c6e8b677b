"""Throwaway databases for the bench scripts: a temporary SQLite file, a fresh PostgreSQL one."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database.engine import reason

BENCH_DATABASE = "gatecam_bench"


@contextmanager
def postgres_database(admin_url: str, name: str = BENCH_DATABASE) -> Iterator[str]:
    """A freshly created, empty database ``name`` on the server of ``admin_url``; dropped after.

    Never the ``test`` database: the test suite resets its schema at any moment.
    """
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(False)
        finally:
            try:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            except SQLAlchemyError as exc:
                # Keep the error that stopped the bench; the next run drops it anyway.
                print(f"note: could not drop {name}: {reason(exc)}")
    finally:
        admin.dispose()


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'gatecam.db'}"
