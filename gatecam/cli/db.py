"""`gatecam db`: the database's schema, a backup of it, a copy into another database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from gatecam.cli.console import say, setup_logging, stop_signals, tables_progress
from gatecam.cli.options import DatabaseUrl, DownloadDir, command_settings, read_database
from gatecam.database.copy import check_copy, copy_rows, prepare_target
from gatecam.database.engine import Database, reason, redact
from gatecam.database.migrate import require_current, upgrade
from gatecam.errors import DatabaseError, InputError, Interrupted, Unavailable
from gatecam.settings import sqlite_url_problem
from gatecam.storage.transfer import file_copier


def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema to the latest revision.

    Example: gatecam db upgrade --database-url postgresql+psycopg://user@host/gatecam
    """
    settings = command_settings(locals())
    db = Database(settings.database_url)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    where = redact(settings.database_url)
    if before == after:
        say(f"{where} was already at the latest schema ({after}): nothing to do")
    else:
        say(f"{where}: upgraded {before or 'none'} → {after}")


def db_backup(
    dest: Annotated[Path, typer.Argument(help="new file to write the copy into")],
    database_url: DatabaseUrl = None,
) -> None:
    """Copy the SQLite database into a new file while gatecam runs.

    A consistent copy, taken while gatecam keeps writing.

    Example: gatecam db backup /backup/gatecam-2025-09-01.db
    """
    from gatecam.database.backup import backup, sqlite_path

    settings = command_settings(locals())
    db = Database(settings.database_url, create=False)
    try:
        sqlite_path(db)  # PostgreSQL is pg_dump's job: say so before trying to connect
        require_current(db)
        size = backup(db, dest)
    finally:
        db.dispose()
    say(f"{redact(settings.database_url)} backed up to {dest} ({size:,} bytes)")


_RESUME = "what was copied is kept: run the same command with --resume to continue"


def db_copy(
    to: Annotated[
        str, typer.Option("--to", help="URL of the database to copy into, e.g. PostgreSQL")
    ],
    resume: Annotated[
        bool,
        typer.Option("--resume", help="continue an interrupted copy into a non-empty target"),
    ] = False,
    # Where the files go, not where the archive keeps them: not named for the setting.
    target_storage_url: Annotated[
        str | None,
        typer.Option(
            "--storage-url",
            help="also copy the image files into this s3://bucket/prefix; default: they stay",
        ),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="rows per transaction in the target")
    ] = 5000,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
) -> None:
    """Copy the archive's rows into another database, resumably.

    Images, runs and counters, batch by batch.
    The target's schema is upgraded first; at the end row counts and statistics must agree.
    Stop `gatecam run` first: rows written during the copy would be missed.

    Example: gatecam db copy --to postgresql+psycopg://gatecam@db.example/gatecam
    """
    settings = command_settings(locals())
    problem = sqlite_url_problem(to)
    if problem:
        raise InputError(f"--to: {problem}")
    setup_logging()
    source = read_database(settings)
    target: Database | None = None
    try:
        try:
            target = Database(to)
        except DatabaseError as exc:
            raise InputError(f"--to: {exc}") from None
        files = file_copier(settings, target_storage_url) if target_storage_url else None
        prepare_target(source, target, resume=resume)
        # SIGTERM (systemctl stop, kill) ends the batch's transaction as Ctrl-C does.
        with stop_signals(), tables_progress() as on_progress:
            report = copy_rows(
                source, target, batch_size=batch, before_insert=files, on_progress=on_progress
            )
        check_copy(source, target)
    except KeyboardInterrupt:
        raise Interrupted(f"stopped; {_RESUME}") from None
    except SQLAlchemyError as exc:
        raise Unavailable(f"copy stopped: {reason(exc)}; {_RESUME}") from None
    finally:
        source.dispose()
        if target is not None:
            target.dispose()
    for line in report.lines():
        say(line)
    say(f"{redact(to)} holds the same rows and statistics as the source")
