"""Alembic, driven from code: upgrade to head and tell whether a database is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database.engine import Database, redact
from gatecam.errors import DatabaseError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str | None]:
    """Bring the schema to the latest revision; return the revisions before and after."""
    db.check()
    try:
        before = current_revision(db)
        command.upgrade(alembic_config(db), "head")
        return before, current_revision(db)
    except SQLAlchemyError as exc:
        raise db.error(exc, "upgrading") from None


def require_current(db: Database) -> None:
    """Raise DatabaseError unless the schema is at the latest revision."""
    db.check()
    current, head = current_revision(db), head_revision()
    if current != head:
        raise DatabaseError(
            f"database {redact(db.url)} is at schema revision {current or 'none'}, "
            f"gatecam needs {head}: run `gatecam db upgrade`"
        )


def prepare(db: Database) -> None:
    """Make ``db`` ready for a writer: SQLite is upgraded in place, a server is checked.

    SQLite belongs to the one host that runs gatecam, so it may migrate itself; a shared
    server is migrated once, on purpose, with `gatecam db upgrade`.
    """
    if db.dialect == "sqlite":
        upgrade(db)
    else:
        require_current(db)
