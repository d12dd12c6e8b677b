"""The ``gatecam`` command: settings in, one line out on error, exit codes from errors.py."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from gatecam.database import queries
from gatecam.database.engine import Database, redact
from gatecam.database.migrate import require_current, upgrade
from gatecam.downloader.scheduler import (
    DownloadConfig,
    DownloadStats,
    ImageDownloadScheduler,
    RunResult,
)
from gatecam.errors import GatecamError, InputError
from gatecam.settings import Settings, load_settings, settings_from_flags
from gatecam.sources.base import check_name
from gatecam.verify import verify_archive

app = typer.Typer(
    name="gatecam",
    help="Archive Dray Dog gate-camera images on a schedule, with every image in a database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
logger = logging.getLogger("gatecam")

# Flags shared by the commands; None means "not given", so GATECAM_* or the default applies.
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="database URL [env GATECAM_DATABASE_URL or DATABASE_URL]"),
]
DownloadDir = Annotated[
    Path | None, typer.Option("--download-dir", help="archive folder [env GATECAM_DOWNLOAD_DIR]")
]
Terminal = Annotated[str | None, typer.Option("--terminal", help="terminal [env GATECAM_TERMINAL]")]
Streams = Annotated[
    str | None, typer.Option("--streams", help="comma-separated streams [env GATECAM_STREAMS]")
]
Concurrency = Annotated[
    int | None, typer.Option("--concurrency", help="parallel downloads [env GATECAM_CONCURRENCY]")
]
BatchSize = Annotated[
    int | None,
    typer.Option("--batch-size", help="rows per database batch [env GATECAM_BATCH_SIZE]"),
]
AppUrl = Annotated[
    str | None, typer.Option("--app-url", help="Dray Dog app URL [env GATECAM_DRAYDOG_APP_URL]")
]
CdnUrl = Annotated[
    str | None, typer.Option("--cdn-url", help="Dray Dog CDN URL [env GATECAM_DRAYDOG_CDN_URL]")
]
RetentionDays = Annotated[
    int | None,
    typer.Option("--retention-days", help="keep this many days [env GATECAM_RETENTION_DAYS]"),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")]


def _setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S+00:00"
    )
    formatter.converter = time.gmtime  # log times in UTC, like everything else
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _parse_day(value: str, flag: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{flag}: {value!r} is not a date (YYYY-MM-DD)") from None


def _config(settings: Settings) -> DownloadConfig:
    return DownloadConfig(
        stream_names=settings.streams,
        download_dir=settings.download_dir,
        terminal=settings.terminal,
        database_url=settings.database_url,
        app_url=settings.draydog_app_url,
        cdn_url=settings.draydog_cdn_url,
        interval_minutes=settings.interval_minutes,
        concurrency=settings.concurrency,
        batch_size=settings.batch_size,
        chromium_path=settings.chromium_path,
        retention_days=settings.retention_days,
    )


def _check_download_dir(path: Path) -> None:
    # Check without creating anything: bad input must leave no trace (issue 3, item 7).
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--download-dir / GATECAM_DOWNLOAD_DIR: {path} is not writable")


def _open_database(settings: Settings) -> Database:
    """The database at the latest schema: SQLite is upgraded in place, others are checked."""
    db = Database(settings.database_url)
    try:
        if db.dialect == "sqlite":
            upgrade(db)
        else:
            require_current(db)
    except BaseException:
        db.dispose()
        raise
    return db


def _scheduler(settings: Settings) -> ImageDownloadScheduler:
    """A scheduler writing into the configured archive (checked first: nothing is written)."""
    config = _config(settings)
    _check_download_dir(Path(config.download_dir))
    _open_database(settings).dispose()
    return ImageDownloadScheduler(config)


def _serve_until_stopped(serve_forever: Callable[[], None]) -> None:
    """Serve until Ctrl-C or SIGTERM, then return normally (exit 0)."""

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever()


def _report(results: list[RunResult]) -> None:
    for result in results:
        out.print(result.summary())
    problems = [r for r in results if not r.ok]
    if problems:
        first = problems[0]
        if first.error:
            raise GatecamError(f"{first.stream}: {first.error}")
        failure = first.failed[0]
        raise GatecamError(
            f"{first.stream}: {len(first.failed)} downloads failed, first: {failure.reason}"
        )


@app.command()
def run(
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    terminal: Terminal = None,
    streams: Streams = None,
    interval: Annotated[
        int | None,
        typer.Option("--interval", help="minutes between jobs [env GATECAM_INTERVAL_MINUTES]"),
    ] = None,
    concurrency: Concurrency = None,
    batch_size: BatchSize = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    retention_days: RetentionDays = None,
    verbose: Verbose = False,
) -> None:
    """Download new images now and then every interval, until SIGINT or SIGTERM.

    Example: gatecam run --streams in_gate,out_gate --interval 10
    """
    settings = settings_from_flags(locals())
    _setup_logging(verbose)
    scheduler = _scheduler(settings)
    logger.info(
        "archiving into %s, database %s", settings.download_dir, redact(settings.database_url)
    )
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: finishing the batch in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    scheduler.start()
    stop.wait()
    scheduler.stop()


@app.command()
def once(
    date_: Annotated[
        str | None, typer.Option("--date", help="day to list (YYYY-MM-DD, UTC); default: today")
    ] = None,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    terminal: Terminal = None,
    streams: Streams = None,
    concurrency: Concurrency = None,
    batch_size: BatchSize = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    retention_days: RetentionDays = None,
    verbose: Verbose = False,
) -> None:
    """Download what the camera page lists and the database lacks, once, then exit.

    Example: gatecam once --streams in_gate,out_gate --date 2025-09-01
    """
    settings = settings_from_flags(locals())
    day = _parse_day(date_, "--date") if date_ else None
    if day and day > datetime.now(UTC).date():
        raise InputError(f"--date: {day} is in the future")
    _setup_logging(verbose)
    scheduler = _scheduler(settings)
    try:
        _report(scheduler.run_once(day))
    finally:
        scheduler.stop()


@app.command()
def backfill(
    from_: Annotated[str, typer.Option("--from", help="first day (YYYY-MM-DD, UTC)")],
    to: Annotated[str, typer.Option("--to", help="last day (YYYY-MM-DD, UTC), included")],
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    terminal: Terminal = None,
    streams: Streams = None,
    concurrency: Concurrency = None,
    batch_size: BatchSize = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    verbose: Verbose = False,
) -> None:
    """Run one pass per day over a range of days, skipping what is already archived.

    Example: gatecam backfill --from 2025-09-01 --to 2025-09-07 --streams in_gate
    """
    settings = settings_from_flags(locals())
    first, last = _parse_day(from_, "--from"), _parse_day(to, "--to")
    if first > last:
        raise InputError(f"--from {first} is after --to {last}")
    if last > datetime.now(UTC).date():
        raise InputError(f"--to: {last} is in the future")
    _setup_logging(verbose)
    scheduler = _scheduler(settings)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    results: list[RunResult] = []
    try:
        with Progress(console=Console(stderr=True), transient=False) as progress:
            task = progress.add_task("backfill", total=len(days))
            for day in days:
                progress.update(task, description=f"backfill {day}")
                results += scheduler.run_once(day)
                progress.advance(task)
    finally:
        scheduler.stop()
    _report(results)


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    database_url: DatabaseUrl = None,
    terminal: Terminal = None,
) -> None:
    """Print download statistics from the database.

    Example: gatecam stats --json
    """
    settings = load_settings(database_url=database_url, terminal=terminal)
    db = _open_database(settings)
    try:
        with db.session_scope() as session:
            data = DownloadStats(**queries.get_stats(session, settings.terminal)).as_dict()
    finally:
        db.dispose()
    if as_json:
        out.print(json.dumps(data, sort_keys=True), markup=False)
        return
    for key, value in data.items():
        if key == "downloads_by_stream":
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
        out.print(f"{key:<20} {'-' if value is None else value}", markup=False)


@app.command()
def verify(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="index files with no row, mark rows whose file is gone, delete old .part files",
        ),
    ] = False,
    no_checksums: Annotated[
        bool, typer.Option("--no-checksums", help="compare sizes only, do not hash files")
    ] = False,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    terminal: Annotated[
        str | None, typer.Option("--terminal", help="only this terminal; default: all of them")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Check the archived files against the database; exit 1 unless they agree.

    Files whose size or checksum differs from their row are reported, never changed.

    Example: gatecam verify --repair --no-checksums
    """
    settings = load_settings(database_url=database_url, download_dir=download_dir)
    if terminal is not None:
        check_name(terminal, "--terminal")
    _setup_logging(verbose)
    db = _open_database(settings)
    try:
        report = verify_archive(
            db, settings.download_dir, terminal=terminal, repair=repair, checksums=not no_checksums
        )
    finally:
        db.dispose()
    for line in report.summary_lines():
        out.print(line, markup=False)
    if not report.consistent:
        raise GatecamError(f"archive and database disagree: {report.problems} problem(s) left")


@app.command()
def web(
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8080,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    tz: Annotated[
        str, typer.Option("--tz", help="time zone the pages show times in (IANA name)")
    ] = "America/Los_Angeles",
) -> None:
    """Serve a read-only web page to look through the archive by day and time.

    Example: gatecam web --port 8080 --tz America/Los_Angeles
    """
    from gatecam.web import ArchiveWeb

    settings = load_settings(database_url=database_url, download_dir=download_dir)
    _setup_logging()
    db = _open_database(settings)
    try:
        try:
            site = ArchiveWeb(db, settings.download_dir, host=host, port=port, tz=tz)
        except InputError as exc:
            raise InputError(f"--tz: {exc}") from None
        except OSError as exc:
            raise InputError(f"--port: cannot listen on {host}:{port}: {exc.strerror}") from None
        out.print(f"archive {settings.download_dir} on {site.url} (Ctrl-C stops)", markup=False)
        _serve_until_stopped(site.serve_forever)
    finally:
        db.dispose()


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema to the latest revision.

    Example: gatecam db upgrade --database-url postgresql+psycopg://user@host/gatecam
    """
    settings = load_settings(database_url=database_url)
    db = Database(settings.database_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    out.print(f"{redact(settings.database_url)} is at the latest schema", markup=False)


@app.command()
def simulate(
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8765,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    latency: Annotated[
        float, typer.Option("--latency", help="seconds before each CDN answer")
    ] = 0.0,
) -> None:
    """Serve a local stand-in of the Dray Dog camera page and CDN, for demos and tests.

    Example: gatecam simulate --port 8765
    """
    from gatecam.standin.server import StandIn

    _setup_logging()
    try:
        standin = StandIn(host, port, latency=latency)
    except OSError as exc:
        raise InputError(f"--port: cannot listen on {host}:{port}: {exc.strerror}") from None

    out.print(
        f"stand-in Dray Dog site on {standin.app_url}\n"
        f"  GATECAM_DRAYDOG_APP_URL={standin.app_url} GATECAM_DRAYDOG_CDN_URL={standin.cdn_url}",
        markup=False,
    )
    _serve_until_stopped(standin.serve_forever)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"gatecam: error: {message}\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: every expected failure is one line on stderr and an exit code."""
    try:
        code = app(args=argv, prog_name="gatecam", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: unknown flag, missing option, bad type
        _fail(exc.format_message(), 2)
    except typer.Abort:
        _fail("aborted", 130)
    except GatecamError as exc:
        _fail(str(exc), exc.code)
    sys.exit(code if isinstance(code, int) else 0)
