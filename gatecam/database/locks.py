"""Job claims: one instance at a time runs a (terminal, stream) job, whatever the host count.

PostgreSQL: a session advisory lock on a connection of its own, so the lock lives exactly as
long as the holder's connection; a holder killed with ``kill -9`` loses its socket, the server
ends its session and the lock is free SQLite is for one host: an ``fcntl`` lock on a
file beside the database, which the kernel drops when the holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database.engine import Database, reason, redact
from gatecam.database.models import DownloadRun
from gatecam.errors import Unavailable
from gatecam.model import check_name

logger = logging.getLogger(__name__)

# Seconds of silence before the first probe, between probes, and probes lost before the
# server gives up on a lock holder's host: 30 + 3 * 10 = about a minute.
KEEPALIVES = (
    "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3"
)


def lock_key(terminal: str, stream: str) -> int:
    """A stable signed 64-bit key for the stream (Python's ``hash()`` differs per process)."""
    digest = hashlib.blake2b(f"gatecam:{terminal}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_dir(db: Database) -> Path | None:
    """``<database file>.locks``, or None for an in-memory SQLite database."""
    name = make_url(db.url).database
    if not name or name == ":memory:":
        return None
    return Path(f"{name}.locks")


@contextlib.contextmanager
def claim(db: Database, terminal: str, stream: str) -> Iterator[bool]:
    """Hold this stream's job for the with-block: True if claimed, False if another has it.

    Never waits: an instance that finds the job taken skips it for this tick.
    """
    check_name(terminal, "terminal")
    check_name(stream, "stream")
    if db.dialect == "postgresql":
        with _claim_postgres(db, [(terminal, stream)]) as held:
            yield bool(held)
    elif db.dialect == "sqlite":
        with _claim_file(lock_dir(db), _lock_name(terminal, stream)) as held:
            yield held
    else:  # no shared primitive known: one instance per database
        yield True


def _lock_name(terminal: str, stream: str) -> str:
    return f"{terminal}__{stream}.lock"


@contextlib.contextmanager
def _claim_file(folder: Path | None, name: str) -> Iterator[bool]:
    if folder is None:  # an in-memory database lives in one process: nothing to share
        yield True
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        # Closing the descriptor drops the lock; the file stays for the next claim.
        os.close(fd)


def finished_since(db: Database, terminal: str, stream: str, since: datetime) -> bool:
    """True if a run of this stream that started at or after ``since`` has ended.

    A claim alone stops two instances running a stream's job at the same time, not one after
    the other in the same tick; call this once the claim is held, with the tick's time, and
    skip the job if it says True. A run still marked "running" does not count: while we hold
    the claim its instance cannot be alive (killed mid-job), so this tick's job is still due.
    """
    stmt = (
        select(DownloadRun.id)
        .where(
            DownloadRun.terminal == terminal,
            DownloadRun.camera_id == stream,
            DownloadRun.started_at >= since,
            DownloadRun.status.in_(("success", "failed")),
        )
        .limit(1)
    )
    with db.session_scope() as session:
        return session.scalar(stmt) is not None


@contextlib.contextmanager
def claim_many(db: Database, streams: Sequence[tuple[str, str]]) -> Iterator[set[tuple[str, str]]]:
    """``claim`` for many streams at once: the set of those claimed, held for the with-block.

    The same locks as ``claim`` (a stream claimed here is taken for ``claim`` elsewhere and
    the other way round), taken in one round trip on PostgreSQL: one connection holds them
    all. Never waits.
    """
    for terminal, stream in streams:
        check_name(terminal, "terminal")
        check_name(stream, "stream")
    if db.dialect == "postgresql":
        with _claim_postgres(db, streams) as held:
            yield held
    elif db.dialect == "sqlite":
        folder = lock_dir(db)
        with contextlib.ExitStack() as stack:
            held = {
                (terminal, stream)
                for terminal, stream in streams
                if stack.enter_context(_claim_file(folder, _lock_name(terminal, stream)))
            }
            yield held
    else:
        yield set(streams)


@contextlib.contextmanager
def _claim_postgres(
    db: Database, streams: Sequence[tuple[str, str]]
) -> Iterator[set[tuple[str, str]]]:
    """The streams' advisory locks, tried in one round trip on one connection of their own."""
    keys = {lock_key(*stream): stream for stream in streams}
    try:
        conn = db.engine.connect()
    except SQLAlchemyError as exc:
        raise Unavailable(f"cannot connect to {redact(db.url)}: {reason(exc)}") from None
    try:
        # Autocommit: no transaction stays open for the job's length (that would hold back
        # vacuum and trip idle_in_transaction_session_timeout).
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        # Out of the pool: when this connection closes it is really closed, so a lock that a
        # failed unlock left behind can never ride along into someone else's session.
        conn.detach()
        # A process killed with kill -9 closes its socket at once; a host that loses power
        # does not, so the server probes this session's client and ends it (and the lock)
        # within about a minute instead of the kernel's default two hours.
        conn.execute(text(KEEPALIVES))
        got = conn.scalars(
            text(
                "SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k WHERE pg_try_advisory_lock(k)"
            ),
            {"keys": list(keys)},
        ).all()
    except SQLAlchemyError as exc:
        conn.close()
        raise Unavailable(f"cannot claim jobs in {redact(db.url)}: {reason(exc)}") from None
    except BaseException:
        conn.close()
        raise
    try:
        yield {keys[key] for key in got}
    finally:
        if got:
            # Closing the connection ends the session and frees its locks anyway; unlocking
            # first just says so explicitly, and a dead connection makes it moot.
            with contextlib.suppress(SQLAlchemyError):
                conn.execute(
                    text("SELECT pg_advisory_unlock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                    {"keys": list(got)},
                )
        conn.close()
