"""An online copy of an SQLite archive through SQLite's backup API, safe while gatecam writes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from gatecam.database.engine import SQLITE_BUSY_TIMEOUT, Database
from gatecam.errors import InputError, StorageError


def sqlite_path(db: Database) -> Path:
    """The file of an SQLite database; anything else is bad input for a backup."""
    database = make_url(db.url).database
    if db.dialect != "sqlite" or not database or database == ":memory:":
        raise InputError(
            "gatecam db backup copies an SQLite file; back up PostgreSQL with pg_dump "
            "(docs/running.md, Backups)"
        )
    return Path(database)


def backup(db: Database, dest: Path) -> int:
    """Copy ``db`` into the new file ``dest`` as one consistent snapshot; return its size.

    The snapshot includes what is committed but still in the WAL file, which a plain copy of
    the database file misses. It is taken in one read transaction, which in WAL mode never
    blocks gatecam's writer. ``dest`` appears only once complete and checked.
    """
    source = sqlite_path(db)
    if dest.exists():
        raise InputError(f"{dest} already exists: give a new file name")
    if not dest.parent.is_dir():
        raise InputError(f"no folder {dest.parent} to write {dest.name} into")
    part = dest.with_name(dest.name + ".part")
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT)) as src,
            contextlib.closing(sqlite3.connect(part)) as dst,
        ):
            src.backup(dst)  # all pages in one step: no restart when gatecam writes meanwhile
            # A self-contained file: no -wal beside it to forget when it is moved.
            dst.execute("PRAGMA journal_mode=DELETE")
            problem = dst.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StorageError(f"the copy does not check out: {problem}")
        os.replace(part, dest)
    except (sqlite3.Error, OSError) as exc:
        part.unlink(missing_ok=True)
        raise StorageError(f"backup into {dest} failed: {exc}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest.stat().st_size
