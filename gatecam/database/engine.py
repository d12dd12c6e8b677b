"""Connections: one ``Database`` per URL, with write and read-only sessions."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, Row, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gatecam.errors import DatabaseError, Unavailable

log = logging.getLogger(__name__)

# How long an SQLite writer waits for another one; `?timeout=<seconds>` in the URL overrides.
SQLITE_BUSY_TIMEOUT = 30.0
# Connections kept per engine: more than the web server's worker threads, so a request never
# waits for a connection, with room for the job's own sessions beside them.
POOL_SIZE = 12
POOL_OVERFLOW = 4
# Execution option marking a read-only connection: its SQLite transaction begins deferred.
_READ_ONLY = "gatecam_read_only"
_LONE_READ = "gatecam_lone_read"


_PASSWORD = re.compile(r"(://[^:/@]*:).*@")


def redact(url: str) -> str:
    """The URL with its password hidden, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Unparseable, yet worth showing: hide everything between `user:` and the last `@`.
        return _PASSWORD.sub(r"\1***@", url)


def reason(exc: BaseException) -> str:
    """The first line of the driver's own message: what a user needs, without the SQL dump."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_file(path: Path, create: bool) -> None:
    if not create:
        if not path.is_file():
            raise DatabaseError(
                f"no database at {path}: give the --database-url that `gatecam run` writes to"
            )
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        folder = path.parent
        raise DatabaseError(f"cannot create the database folder {folder}: {exc.strerror}") from None
    if path.exists() and not path.is_file():
        raise DatabaseError(f"database path {path} is not a file")


def _tune_sqlite(engine: Engine) -> None:
    # WAL lets readers work on a snapshot while a job writes. Writers BEGIN IMMEDIATE: they
    # take the write lock up front, so two writers wait on the busy timeout instead of failing
    # mid-transaction. Readers BEGIN deferred: a WAL reader never takes that lock, so a page
    # view neither waits behind the job nor makes it wait.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(_LONE_READ, False):
            return  # one statement reads one snapshot by itself: no BEGIN, no ROLLBACK
        conn.exec_driver_sql("BEGIN" if options.get(_READ_ONLY, False) else "BEGIN IMMEDIATE")


# Answers that mean the URL names something wrong (fix it), not a server that is down. The
# last ones are psycopg's and libpq's words for a query option they cannot use
# (?connect_timeout=abc, ?bogus=1, ?sslmode=zzz, ?keepalives=x).
_CONFIG_PROBLEMS = re.compile(
    "does not exist|authentication failed|no password supplied|role "
    "|bad value for |invalid connection option|invalid integer value|invalid [a-z_]+ value"
)


class Database:
    """An engine and its sessions for one database URL.

    ``create=False`` (read-only commands) refuses an SQLite file that does not exist instead
    of creating an empty one; ``create=True`` makes its folder.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise DatabaseError(f"database URL is malformed: {redact(url)}") from None
        except ValueError:
            # SQLAlchemy reads the port with int(): `:notaport`, or `[::1` left unclosed.
            raise DatabaseError(
                f"database URL is malformed: {redact(url)} (the port must be a number, "
                "an IPv6 address goes in [brackets])"
            ) from None
        self.url = url
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect != "sqlite" or parsed.database not in (None, "", ":memory:"):
            kwargs |= {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
        if self.dialect == "sqlite":
            if "timeout" not in parsed.query:
                kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(parsed, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError, TypeError) as exc:
            # ValueError: a query option of the wrong type, such as SQLite's ?timeout=abc.
            raise DatabaseError(f"database URL {redact(url)} is not usable: {exc}") from None
        reader: Engine = self.engine
        if self.dialect == "sqlite":
            # After create_engine, which checks the URL's options: a bad one creates no folder.
            if parsed.database and parsed.database != ":memory:":
                _sqlite_file(Path(parsed.database), create)
            _tune_sqlite(self.engine)
            reader = self.engine.execution_options(**{_READ_ONLY: True})
        elif self.dialect == "postgresql":
            # BEGIN READ ONLY: the server refuses a stray write from a page or a report.
            reader = self.engine.execution_options(postgresql_readonly=True)
        # A lone statement reads one snapshot by itself and needs no transaction around it:
        # on SQLite its BEGIN and ROLLBACK were a quarter of a counters read's time.
        self._single_reads = reader
        if self.dialect == "sqlite":
            self._single_reads = reader.execution_options(**{_LONE_READ: True})
        elif self.dialect == "postgresql":
            self._single_reads = self._lone_reader(parsed, kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(reader, expire_on_commit=False)

    @staticmethod
    def _lone_reader(parsed: URL, kwargs: dict[str, Any]) -> Engine:
        """PostgreSQL connections for lone reads: autocommit and read-only from their start.

        Set per checkout instead, SQLAlchemy's ping, isolation switch and reset on return
        were three round trips beside the read's one. Without the ping a connection the server
        dropped fails once; ``read_rows`` then asks again on a new one.
        """
        options = {k: v for k, v in kwargs.items() if k != "pool_pre_ping"}
        engine = create_engine(
            parsed, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **options
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = on")

        return engine

    def __repr__(self) -> str:
        return f"Database({redact(self.url)!r})"

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_scope(self) -> Iterator[Session]:
        """A session for reads only: never takes SQLite's write lock, never waits behind it.

        On SQLite it is a deferred WAL reader transaction on one snapshot; on PostgreSQL a
        READ ONLY transaction. It ends with a rollback: there is nothing to commit.
        """
        session = self._readers()
        try:
            yield session
        finally:
            session.close()

    def read_rows(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """The rows of a single read statement, run outside any transaction.

        A single statement reads one snapshot by itself. For the web app's most frequent
        reads, the BEGIN and ROLLBACK of a read_scope were two of their three round trips
        to PostgreSQL (0.87 ms against 0.44 ms for the counters' fingerprint), and the ORM
        session around them cost more than the read on SQLite.
        """
        try:
            with self._single_reads.connect() as conn:
                return conn.execute(statement, parameters).all()
        except DBAPIError as exc:
            # A connection the server closed since its last use (a restart): every older one
            # is discarded with it, and a read is safe to ask again.
            if not exc.connection_invalidated:
                raise
        with self._single_reads.connect() as conn:
            return conn.execute(statement, parameters).all()

    def check(self) -> None:
        """Raise with a one-line reason if the database cannot be reached.

        DatabaseError (exit 2) when the URL names something that is not there or refuses us,
        Unavailable (exit 3) when the server is down or not answering: try again later.
        """
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise self.error(exc, "cannot connect to") from None

    def error(self, exc: SQLAlchemyError, action: str) -> DatabaseError | Unavailable:
        """The one-line error for ``exc``: DatabaseError if the input is wrong, else Unavailable.

        A file, a missing database or a refused login is fixed by changing the URL (exit 2); a
        server that is down or went away is fixed by waiting (exit 3).
        """
        message = f"{action} {redact(self.url)}: {reason(exc)}"
        if self.dialect == "sqlite" or _CONFIG_PROBLEMS.search(reason(exc)):
            return DatabaseError(message)
        return Unavailable(message)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._single_reads.engine is not self.engine:
            self._single_reads.engine.dispose()
