"""The ``gatecam`` command: settings in, one line out on error, exit codes from errors.py."""

from __future__ import annotations

import contextlib
import errno
import gc
import getpass
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError

from gatecam import __version__
from gatecam import days as local_days
from gatecam.archive import Archive, configured_store, open_archive
from gatecam.database import queries
from gatecam.database.copy import BeforeInsert, check_copy, copy_rows, prepare_target
from gatecam.database.engine import Database, reason, redact
from gatecam.database.migrate import require_current, upgrade
from gatecam.database.stats import get_stats
from gatecam.deploy.service import (
    DEFAULT_ENV_FILE,
    check_unit_value,
    journal_formatter,
    systemd_unit,
)
from gatecam.downloader.job import RunResult
from gatecam.downloader.scheduler import ImageDownloadScheduler
from gatecam.errors import DatabaseError, GatecamError, InputError, Interrupted, Unavailable
from gatecam.health import Limits
from gatecam.health.read import verdicts
from gatecam.model import Target, check_name
from gatecam.settings import (
    DownloadConfig,
    env_name,
    flag_name,
    load_settings,
    settings_table,
    sqlite_url_problem,
)
from gatecam.storage import open_store
from gatecam.storage.local import refuse_shared_folder

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


def _print_version(value: bool) -> None:
    if value:
        out.print(f"gatecam {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Archive Dray Dog gate-camera images on a schedule, with every image in a database."""


def _setting(field: str) -> Any:
    """The flag of a setting, its help taken from the settings table (one place for both)."""
    info = DownloadConfig.model_fields[field]
    return typer.Option(flag_name(field), help=f"{info.description} [env {env_name(field)}]")


# Flags shared by the commands; None means "not given", so GATECAM_* or the default applies.
DatabaseUrl = Annotated[str | None, _setting("database_url")]
DownloadDir = Annotated[Path | None, _setting("download_dir")]
StorageUrl = Annotated[str | None, _setting("storage_url")]
Terminal = Annotated[str | None, _setting("terminal")]
Streams = Annotated[str | None, _setting("streams")]
Interval = Annotated[float | None, _setting("interval_minutes")]
Concurrency = Annotated[int | None, _setting("concurrency")]
BatchSize = Annotated[int | None, _setting("batch_size")]
AppUrl = Annotated[str | None, _setting("app_url")]
CdnUrl = Annotated[str | None, _setting("cdn_url")]
RetentionDays = Annotated[int | None, _setting("retention_days")]
Timezone = Annotated[str | None, _setting("timezone")]
# `web` and `export` took --tz before GATECAM_TIMEZONE existed: both names still work.
TimezoneOrTz = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        "--tz",
        help=f"{DownloadConfig.model_fields['timezone'].description} [env GATECAM_TIMEZONE]",
    ),
]
OnlyTerminal = Annotated[
    str | None, typer.Option("--terminal", help="only this terminal; default: all of them")
]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
FromDay = Annotated[
    str, typer.Option("--from", help="first day (YYYY-MM-DD, midnight in --timezone)")
]
ToDay = Annotated[
    str, typer.Option("--to", help="last day (YYYY-MM-DD, to midnight in --timezone), included")
]
Port = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="port to listen on (0: any free one)")
]
Host = Annotated[str, typer.Option("--host", help="address to listen on")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")]


class _ConsoleHandler(logging.Handler):
    """Log lines printed through a Rich console, so they never cut through its progress bar."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False)
        except Exception:
            self.handleError(record)


def _setup_logging(verbose: bool = False, console: Console | None = None) -> None:
    handler: logging.Handler
    if console is not None and console.is_terminal:
        handler = _ConsoleHandler(console)
    else:
        handler = logging.StreamHandler(sys.stderr)
    # One format on a terminal and off it, before and after Ctrl-C: ISO 8601 times in UTC.
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S+00:00"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(journal_formatter(os.environ) or formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "httpx", "httpcore", "alembic", "uvicorn", "botocore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _parse_day(value: str, flag: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{flag}: {value!r} is not a date (YYYY-MM-DD)") from None


def _day_range(from_: str, to: str) -> tuple[date, date]:
    first, last = _parse_day(from_, "--from"), _parse_day(to, "--to")
    if first > last:
        raise InputError(f"--from {first} is after --to {last}")
    return first, last


def _not_future(day: date, flag: str, where: tzinfo = UTC) -> date:
    if day > local_days.today(where):
        raise InputError(f"{flag}: {day} is in the future")
    return day


@contextlib.contextmanager
def _download_dir(path: Path) -> Iterator[None]:
    """Create the archive folder, or fail with one line; undo it if what follows fails.

    Bad input must leave no trace, and a folder that cannot be made (/proc/...,
    /sys/..., a file in the way) is bad input.
    """
    refuse_shared_folder(path)  # before the write test below: a refused folder stays as it was
    missing: list[Path] = []
    folder = path.absolute()
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir():
        # mkdir would say "File exists" or "Not a directory": name the file in the way.
        raise InputError(f"--download-dir / GATECAM_DOWNLOAD_DIR: {folder} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gatecam-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        _remove_folders(missing)
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"--download-dir / GATECAM_DOWNLOAD_DIR: {path}: {reason}") from None
    try:
        yield
    except BaseException:
        _remove_folders(missing)
        raise


def _remove_folders(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()


def _read_archive(settings: DownloadConfig) -> Archive:
    """The archive at the latest schema, for commands that read it: nothing is created.

    The store is not contacted: `verify` checks it before it judges, `web` before it serves.
    """
    return open_archive(settings, write=False)


def _scheduler(settings: DownloadConfig) -> ImageDownloadScheduler:
    """A scheduler writing into the configured archive; bad settings leave nothing behind."""
    if settings.storage_url:
        return ImageDownloadScheduler(settings)
    with _download_dir(settings.download_dir):
        return ImageDownloadScheduler(settings)


def _read_database(settings: DownloadConfig) -> Database:
    """An existing database at the latest schema, for commands that only read it."""
    db = Database(settings.database_url, create=False)
    try:
        require_current(db)
    except BaseException:
        db.dispose()
        raise
    return db


@contextlib.contextmanager
def _stop_on_signals(on_stop: Callable[[], None]) -> Iterator[threading.Event]:
    """Turn SIGINT and SIGTERM into a stop request (the run in flight is recorded)."""
    stopped = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stopped.is_set():
            logger.info("%s received: finishing the batch in flight", signal.Signals(signum).name)
        stopped.set()
        on_stop()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve_until_stopped(serve_forever: Callable[[], None]) -> None:
    """Serve until Ctrl-C or SIGTERM, then return normally (exit 0)."""

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever()


def _report(results: list[RunResult], stopped: bool) -> None:
    """Exit status of a finished `once` or `backfill`; the result lines are already out.

    Exit 0 only when every run is a success: each listed image stored or not published yet.
    """
    if stopped or any(r.interrupted for r in results):
        raise Interrupted("stopped before every run ended; what was fetched is stored")
    problems = [r for r in results if not r.ok and not r.skipped]
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more runs not successful)" if len(problems) > 1 else ""
        raise GatecamError(f"{first.terminal}/{first.stream} {first.status}: {first.reason}{more}")


@app.command()
def run(
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
    terminal: Terminal = None,
    streams: Streams = None,
    interval: Interval = None,
    concurrency: Concurrency = None,
    batch_size: BatchSize = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    retention_days: RetentionDays = None,
    timezone: Timezone = None,
    web: Annotated[
        bool, typer.Option("--web", help="also serve the web page and API (see `gatecam web`)")
    ] = False,
    port: Port = 8080,
    host: Host = "127.0.0.1",
    verbose: Verbose = False,
) -> None:
    """Download new images now and then every interval, until SIGINT or SIGTERM.

    Example: gatecam run --streams apm/in_gate,apm/out_gate --interval 10 --web
    """
    settings = load_settings(
        database_url=database_url,
        download_dir=download_dir,
        storage_url=storage_url,
        terminal=terminal,
        streams=streams,
        concurrency=concurrency,
        batch_size=batch_size,
        app_url=app_url,
        cdn_url=cdn_url,
        interval_minutes=interval,
        retention_days=retention_days,
        timezone=timezone,
    )
    if web:
        _check_port(host, port)
    _setup_logging(verbose)
    scheduler = _scheduler(settings)
    with contextlib.ExitStack() as stack:
        stack.callback(scheduler.stop)
        if web:
            # Health judges the streams this process runs.
            server = _web_server(scheduler.archive, settings, host, port, settings.targets)
            server.start()
            stack.callback(server.stop)
        where = scheduler.store.describe()
        logger.info("archiving into %s, database %s", where, redact(settings.database_url))
        with _stop_on_signals(lambda: None) as stopped:
            scheduler.start()
            stopped.wait()


@app.command()
def once(
    date_: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="day to archive (YYYY-MM-DD, midnight to midnight in --timezone; the site's "
            "UTC dates it spans are listed); default: today's UTC date and any missed",
        ),
    ] = None,
    timezone: Timezone = None,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
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
    settings = load_settings(
        database_url=database_url,
        download_dir=download_dir,
        storage_url=storage_url,
        terminal=terminal,
        streams=streams,
        concurrency=concurrency,
        batch_size=batch_size,
        app_url=app_url,
        cdn_url=cdn_url,
        retention_days=retention_days,
        timezone=timezone,
    )
    # `--date ""` is a date given wrong, not "today": only a missing flag means today.
    day = (
        None if date_ is None else _not_future(_parse_day(date_, "--date"), "--date", settings.zone)
    )
    _setup_logging(verbose)
    scheduler = _scheduler(settings)
    try:
        with _stop_on_signals(scheduler.request_stop) as stopped:
            results = scheduler.run_once(
                day, on_result=lambda r: out.print(r.summary(), markup=False)
            )
    finally:
        scheduler.stop()
    _report(results, stopped.is_set())


# Each run opens the camera page once: ten years of one stream is 3,653 page loads, hours of
# work a typo in --from can start.
BACKFILL_ASK_DAYS = 31


def _confirm_backfill(first: date, last: date, runs: int, yes: bool) -> None:
    days = (last - first).days + 1
    if days > BACKFILL_ASK_DAYS and not yes:
        raise InputError(
            f"--from {first} --to {last} is {days:,} days: {runs:,} runs, each loading the "
            f"camera page; add --yes to start them"
        )


@app.command("retry-missed")
def retry_missed(
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
    terminal: Terminal = None,
    streams: Streams = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    verbose: Verbose = False,
) -> None:
    """Try again now every image the site listed and the archive could not store.

    Example: gatecam retry-missed --streams in_gate
    """
    settings = load_settings(
        database_url=database_url,
        download_dir=download_dir,
        storage_url=storage_url,
        terminal=terminal,
        streams=streams,
        app_url=app_url,
        cdn_url=cdn_url,
    )
    _setup_logging(verbose)
    scheduler = _scheduler(settings)
    try:
        with _stop_on_signals(scheduler.request_stop) as stopped:
            results = scheduler.retry_missed(
                on_result=lambda r: out.print(r.summary(), markup=False)
            )
    finally:
        scheduler.stop()
    if not results and not stopped.is_set():
        out.print("nothing missed: every image the site listed is stored", markup=False)
    _report(results, stopped.is_set())


@app.command()
def backfill(
    from_: FromDay,
    to: ToDay,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
    terminal: Terminal = None,
    streams: Streams = None,
    concurrency: Concurrency = None,
    batch_size: BatchSize = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    timezone: Timezone = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help=f"start a range over {BACKFILL_ASK_DAYS} days without asking"),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Run one pass per stream and UTC date of the site over a range of days, skipping what
    is archived.

    The days run midnight to midnight in --timezone; the site lists by UTC date, so a range
    lists one UTC date more than its days (2025-09-01 to 2025-09-07 in Los Angeles lists the
    UTC dates 2025-09-01 to 2025-09-08).

    Example: gatecam backfill --from 2025-09-01 --to 2025-09-07 --streams in_gate
    """
    settings = load_settings(
        database_url=database_url,
        download_dir=download_dir,
        storage_url=storage_url,
        terminal=terminal,
        streams=streams,
        concurrency=concurrency,
        batch_size=batch_size,
        app_url=app_url,
        cdn_url=cdn_url,
        timezone=timezone,
    )
    first, last = _day_range(from_, to)
    _not_future(last, "--to", settings.zone)
    dates = local_days.site_dates(first, last, settings.zone)
    _confirm_backfill(first, last, len(dates) * len(settings.targets), yes)
    # Bar, results and log lines share one console, so log lines never cut through the bar.
    _setup_logging(verbose, out)
    scheduler = _scheduler(settings)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with (
            _stop_on_signals(scheduler.request_stop) as stopped,
            Progress(*columns, console=out, transient=True) as progress,
        ):
            targets = settings.targets
            task = progress.add_task(f"{targets[0]} {dates[0]}", total=len(dates) * len(targets))
            runs = [(t, d) for t in targets for d in dates]

            def _done(result: RunResult) -> None:
                progress.console.print(result.summary(), markup=False, highlight=False)
                progress.advance(task)
                done = int(progress.tasks[0].completed)
                if done < len(runs):
                    progress.update(task, description=f"{runs[done][0]} {runs[done][1]}")

            results = scheduler.run_once(days=dates, on_result=_done)
    finally:
        scheduler.stop()
    _report(results, stopped.is_set())


@app.command()
def stats(
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    terminal: OnlyTerminal = None,
) -> None:
    """Print download statistics from the database.

    Example: gatecam stats --json
    """
    settings = load_settings(database_url=database_url)
    if terminal is not None:
        check_name(terminal, "--terminal")
    db = _read_database(settings)
    try:
        with db.read_scope() as session:
            known = queries.terminals(session)
            if terminal is not None and terminal not in known:
                listed = ", ".join(known) or "none yet"
                raise InputError(f"--terminal: no terminal {terminal!r} in the database ({listed})")
            data = get_stats(session, terminal).as_dict()
            limits = Limits(
                interval=timedelta(minutes=settings.interval_minutes),
                silent_after=timedelta(minutes=settings.silent_minutes),
            )
            # The streams that ran in the last day, judged as /healthz judges them.
            found = [
                v
                for v in verdicts(session, None, datetime.now(UTC), limits)
                if terminal is None or v.terminal == terminal
            ]
    finally:
        db.dispose()
    if as_json:
        data["streams"] = {
            v.name: {"state": v.state.code, "since": v.since and v.since.isoformat()}
            | {"reason": v.reason}
            for v in found
        }
        out.print(json.dumps(data, sort_keys=True), markup=False)
        return
    for key, value in data.items():
        if key == "downloads_by_stream":
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
        out.print(f"{key:<20} {'-' if value is None else value}", markup=False)
    for v in found:
        since = f" since {v.since.isoformat()}" if v.since else ""
        why = f": {v.reason}" if v.reason else ""
        out.print(f"{'state ' + v.name:<20} {v.state.value}{since}{why}", markup=False)


@app.command()
def verify(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="index files with no row, mark rows whose file is gone, delete old .part files",
        ),
    ] = False,
    accept_changed: Annotated[
        bool,
        typer.Option(
            "--accept-changed",
            help="take the present bytes of files that differ from their row as the archive's "
            "(complete JPEGs only)",
        ),
    ] = False,
    quarantine_changed: Annotated[
        bool,
        typer.Option(
            "--quarantine-changed",
            help="move files that differ from their row into <download-dir>.quarantine/ "
            "and mark their rows missing",
        ),
    ] = False,
    no_checksums: Annotated[
        bool, typer.Option("--no-checksums", help="compare sizes only, do not hash files")
    ] = False,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
    terminal: OnlyTerminal = None,
    verbose: Verbose = False,
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash", help="first measure camera health figures of images that lack them"
        ),
    ] = False,
) -> None:
    """Check the archived files against the database; exit 1 unless they agree.

    Files whose size or checksum differs from their row are reported and left alone, unless
    --accept-changed or --quarantine-changed says otherwise. --repair moves symlinks and
    files that are not complete JPEGs into <download-dir>.quarantine/.

    Example: gatecam verify --repair --no-checksums
    """
    from gatecam.upkeep.verify import Changed, verify_archive

    settings = load_settings(
        database_url=database_url, download_dir=download_dir, storage_url=storage_url
    )
    if terminal is not None:
        check_name(terminal, "--terminal")
    if accept_changed and quarantine_changed:
        raise InputError("--accept-changed and --quarantine-changed: choose one")
    changed: Changed = (
        "accept" if accept_changed else "quarantine" if quarantine_changed else "report"
    )
    _setup_logging(verbose)
    with _read_archive(settings) as archive:
        if rehash:
            from gatecam.upkeep.rehash import rehash as run_rehash

            line = run_rehash(archive.db, archive.store, terminal=terminal).line()
            out.print(line, markup=False)
        report = verify_archive(
            archive.db,
            archive.store,
            terminal=terminal,
            repair=repair,
            changed=changed,
            checksums=not no_checksums,
        )
    for line in report.summary_lines():
        out.print(line, markup=False)
    if not report.consistent:
        raise GatecamError(f"archive and database disagree: {report.problems} problem(s) left")


def _check_port(host: str, port: int) -> None:
    """Fail before the database or the archive folder is made if host:port cannot be served."""
    from gatecam.web.serve import bind

    try:
        bind(host, port).close()
    except OSError as exc:
        raise InputError(f"--port / --host: {exc}") from None


def _web_server(
    archive: Archive,
    settings: DownloadConfig,
    host: str,
    port: int,
    streams: list[Target] | None,
) -> Any:
    """The web page and API on ``host:port``, started in a background thread.

    /healthz and /metrics judge ``streams``; None: every stream that ran in the last day.
    """
    from gatecam.web import WebServer, create_app

    app_ = create_app(
        archive,
        tz=settings.timezone,
        token=settings.web_token,
        interval_minutes=settings.interval_minutes,
        streams=streams,
        silent_minutes=settings.silent_minutes,
    )
    try:
        server = WebServer(app_, host, port)
    except OSError as exc:
        raise InputError(f"--port / --host: {exc}") from None
    out.print(f"web page and API on {server.url} (Ctrl-C stops)", markup=False)
    return server


@app.command()
def web(
    port: Port = 8080,
    host: Host = "127.0.0.1",
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
    tz: TimezoneOrTz = None,
    terminal: Terminal = None,
    streams: Annotated[
        str | None,
        typer.Option(
            "--streams",
            help="streams /healthz and /metrics judge (stream or terminal/stream, "
            "comma-separated); default: those that ran in the last day",
        ),
    ] = None,
) -> None:
    """Serve a read-only web page and JSON API to look through the archive.

    Days run midnight to midnight in --timezone, and a time without an offset (/at?time=,
    /api/images?from=) is local time there.

    Example: gatecam web --port 8080 --timezone America/Los_Angeles --streams apm/in_gate
    """
    settings = load_settings(
        database_url=database_url,
        download_dir=download_dir,
        storage_url=storage_url,
        terminal=terminal,
        streams=streams,
        timezone=tz,
    )
    # GATECAM_STREAMS is the scheduler's; only the flag names the streams health judges here.
    judged = settings.targets if streams is not None else None
    _setup_logging()
    with _read_archive(settings) as archive:
        if settings.storage_url:
            archive.store.check()  # a bucket answers a HEAD without change; a folder is only read
        server = _web_server(archive, settings, host, port, judged)
        # Everything loaded so far lives as long as the process: out of the collector's sight,
        # a full collection no longer walks it while every request waits (p99 under 50
        # clients on PostgreSQL: 376-384 ms without, 169-232 ms with).
        gc.freeze()
        _serve_until_stopped(server.serve_forever)


@app.command()
def coverage(
    from_: FromDay,
    to: ToDay,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    terminal: OnlyTerminal = None,
    timezone: Timezone = None,
) -> None:
    """Per stream and hour: images held against the cadence, gaps over 20 min, completeness.

    Days run midnight to midnight in --timezone, as in `export` and on the web page: the
    same day holds the same images everywhere.

    Example: gatecam coverage --from 2025-09-01 --to 2025-09-07 --json
    """
    from gatecam.health.coverage import check_range, coverage_report

    settings = load_settings(database_url=database_url, timezone=timezone)
    first, last = _day_range(from_, to)
    check_range(first, last)
    if terminal is not None:
        check_name(terminal, "--terminal")
    db = _read_database(settings)
    try:
        report = coverage_report(db, first, last, terminal=terminal, zone=settings.zone)
    finally:
        db.dispose()
    if as_json:
        out.print(json.dumps(report.as_dict(), sort_keys=True), markup=False)
        return
    for line in report.lines():
        out.print(line, markup=False)


@app.command()
def probe(
    stream: Annotated[str, typer.Option("--stream", help="stream, or terminal/stream")],
    date_: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="the site's date to list (YYYY-MM-DD, UTC: the site lists by UTC date); "
            "default: today's",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="folder for the bundle; default probe-<stream>-<date>"),
    ] = None,
    terminal: Terminal = None,
    app_url: AppUrl = None,
    cdn_url: CdnUrl = None,
    verbose: Verbose = False,
) -> None:
    """Run discovery once and keep everything it saw: screenshot, DOM, HAR, what found what.

    Send the bundle's folder with a bug report when discovery breaks.

    Example: gatecam probe --stream in_gate --date 2025-09-01 --out probe-in_gate
    """
    from gatecam.sources import build_source

    settings = load_settings(streams=stream, terminal=terminal, app_url=app_url, cdn_url=cdn_url)
    day = (
        datetime.now(UTC).date()
        if date_ is None
        else _not_future(_parse_day(date_, "--date"), "--date")
    )
    target = settings.targets[0]
    source = build_source(settings)
    out_dir = out_dir or Path(f"probe-{target.stream}-{day}")
    _setup_logging(verbose)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out: {out_dir}: {exc.strerror}") from None
    report = source.probe(target.terminal, target.stream, day, out_dir)
    for line in report.lines():
        out.print(line, markup=False)
    if not report.ok:
        raise GatecamError(f"discovery failed; send the folder {out_dir} with your report")


@app.command("settings")
def settings_command() -> None:
    """List every setting: environment variable, flag, default and meaning.

    Example: gatecam settings
    """
    for variable, flag, default, meaning in settings_table():
        out.print(f"{variable:<26} {flag or '(no flag)':<18} {default:<28} {meaning}", markup=False)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema to the latest revision.

    Example: gatecam db upgrade --database-url postgresql+psycopg://user@host/gatecam
    """
    settings = load_settings(database_url=database_url)
    db = Database(settings.database_url)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    where = redact(settings.database_url)
    if before == after:
        out.print(
            f"{where} was already at the latest schema ({after}): nothing to do", markup=False
        )
    else:
        out.print(f"{where}: upgraded {before or 'none'} → {after}", markup=False)


@db_app.command("backup")
def db_backup(
    dest: Annotated[Path, typer.Argument(help="new file to write the copy into")],
    database_url: DatabaseUrl = None,
) -> None:
    """Copy the SQLite database into a new file, consistently, while gatecam keeps running.

    Example: gatecam db backup /backup/gatecam-2025-09-01.db
    """
    from gatecam.database.backup import backup, sqlite_path

    settings = load_settings(database_url=database_url)
    db = Database(settings.database_url, create=False)
    try:
        sqlite_path(db)  # PostgreSQL is pg_dump's job: say so before trying to connect
        require_current(db)
        size = backup(db, dest)
    finally:
        db.dispose()
    out.print(f"{redact(settings.database_url)} backed up to {dest} ({size:,} bytes)", markup=False)


_RESUME = "what was copied is kept: run the same command with --resume to continue"


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str, typer.Option("--to", help="URL of the database to copy into, e.g. PostgreSQL")
    ],
    resume: Annotated[
        bool,
        typer.Option("--resume", help="continue an interrupted copy into a non-empty target"),
    ] = False,
    storage_url: Annotated[
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
    """Copy the archive's rows (images, runs, counters) into another database, resumably.

    The target's schema is upgraded first; at the end row counts and statistics must agree.
    Stop `gatecam run` first: rows written during the copy would be missed.

    Example: gatecam db copy --to postgresql+psycopg://gatecam@db.example/gatecam
    """
    settings = load_settings(database_url=database_url, download_dir=download_dir)
    problem = sqlite_url_problem(to)
    if problem:
        raise InputError(f"--to: {problem}")
    _setup_logging()
    source = _read_database(settings)
    target: Database | None = None
    try:
        try:
            target = Database(to)
        except DatabaseError as exc:
            raise InputError(f"--to: {exc}") from None
        files = _file_copier(settings, storage_url) if storage_url else None
        prepare_target(source, target, resume=resume)
        with _sigterm_as_ctrl_c(), _copy_progress() as on_progress:
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
        out.print(line, markup=False)
    out.print(f"{redact(to)} holds the same rows and statistics as the source", markup=False)


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (systemctl stop, kill) ends the batch's transaction as Ctrl-C does."""

    def _interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _copy_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per table, fed by `copy_rows`."""
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=out) as progress:
        tasks: dict[str, Any] = {}

        def _update(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=total)
            progress.update(tasks[table], completed=done)

        yield _update


def _file_copier(settings: DownloadConfig, storage_url: str) -> BeforeInsert:
    """Before each batch of image rows lands in the target, put their files into the bucket."""
    from gatecam.storage.transfer import copy_objects

    if storage_url == settings.storage_url:
        raise InputError("--storage-url: the images are already there; leave it out")
    source = configured_store(settings)
    if not storage_url.startswith("s3://"):
        raise InputError(f"--storage-url: s3://bucket/prefix expected, not {storage_url!r}")
    target = open_store(
        storage_url, settings.download_dir, s3_endpoint_url=settings.s3_endpoint_url
    )
    if not source.exists():
        where = source.describe()
        raise InputError(f"--download-dir / GATECAM_DOWNLOAD_DIR: {where} does not exist")
    target.check()

    def _copy(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if table.name != "images":
            return
        report = copy_objects(source, target, ((r["filepath"], r["file_size"]) for r in rows))
        for key in report.missing:
            logger.warning("%s: not in %s, its row is copied alone", key, source.describe())

    return _copy


@app.command()
def simulate(
    port: Port = 8765,
    host: Host = "127.0.0.1",
    latency: Annotated[
        float, typer.Option("--latency", min=0.0, help="seconds before each CDN answer")
    ] = 0.0,
    variant: Annotated[
        list[str] | None,
        typer.Option("--variant", help="a harder page the live site may serve (repeatable; `all`)"),
    ] = None,
) -> None:
    """Serve a local stand-in of the Dray Dog camera page and CDN, for demos and tests.

    Example: gatecam simulate --port 8765 --variant paged --variant longpoll
    """
    from gatecam.sources.draydog.standin.server import StandIn

    _setup_logging()
    try:
        standin = StandIn(host, port, latency=latency, variants=variant or [])
    except ValueError as exc:
        raise InputError(f"--variant: {exc}") from None
    except OSError as exc:
        raise InputError(f"--port: cannot listen on {host}:{port}: {exc.strerror}") from None

    out.print(
        f"stand-in Dray Dog site on {standin.app_url}\n"
        f"  GATECAM_APP_URL={standin.app_url} GATECAM_CDN_URL={standin.cdn_url}",
        markup=False,
    )
    _serve_until_stopped(standin.serve_forever)


_ACCOUNT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@app.command("systemd-unit")
def systemd_unit_command(
    env_file: Annotated[
        Path,
        typer.Option("--env-file", help="the service's GATECAM_* settings, one NAME=value a line"),
    ] = DEFAULT_ENV_FILE,
    user: Annotated[
        str | None, typer.Option("--user", help="account the service runs as; default: you")
    ] = None,
    web: Annotated[
        bool,
        typer.Option("--web/--no-web", help="serve the web page, /healthz and /metrics too"),
    ] = True,
    port: Port = 8080,
    host: Host = "127.0.0.1",
) -> None:
    """Print a systemd unit that runs this installation's `gatecam run` as a service.

    Example: gatecam systemd-unit > /etc/systemd/system/gatecam.service
    """
    if not env_file.is_absolute():
        raise InputError(f"--env-file: {env_file} must be an absolute path (systemd needs one)")
    if user is not None and not _ACCOUNT.fullmatch(user):
        raise InputError(f"--user: {user!r} is not an account name")
    check_unit_value("--host", host)
    run_args = ["--web", "--host", host, "--port", str(port)] if web else []
    unit = systemd_unit(user=user or getpass.getuser(), env_file=env_file, run_args=run_args)
    sys.stdout.write(unit)  # verbatim: no console markup or emoji codes in a unit file


@app.command("alert-rules")
def alert_rules_command(interval: Interval = None) -> None:
    """Print Prometheus alerting rules for gatecam's /metrics (limits follow the interval).

    Example: gatecam alert-rules --interval 10 > /etc/prometheus/rules/gatecam.yml
    """
    from gatecam.deploy.alerts import alert_rules

    settings = load_settings(interval_minutes=interval)
    sys.stdout.write(alert_rules(settings.interval_minutes))


def _export_days(from_: str | None, to: str | None, day: str | None) -> tuple[date, date]:
    if day is not None:
        if from_ is not None or to is not None:
            raise InputError("give --date, or --from and --to, not both")
        one = _parse_day(day, "--date")
        return one, one
    if from_ is None or to is None:
        raise InputError("which days? give --date, or --from and --to")
    return _day_range(from_, to)


_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})


def _write_export(path: Path, chunks: Iterator[bytes]) -> int:
    """Write ``chunks`` to ``path`` through a .part file, so a stopped export leaves nothing."""
    part = path.with_name(path.name + ".part")
    written = 0
    try:
        with part.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)
                written += len(chunk)
        part.replace(path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        problem = f"{path}: {exc.strerror or exc}; nothing was kept"
        # A full or failing disk is the machine's trouble, not the command's: not exit 2.
        if exc.errno in _MACHINE_ERRNOS:
            raise GatecamError(problem) from None
        raise InputError(problem) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return written


@app.command()
def export(
    stream: Annotated[str, typer.Option("--stream", help="stream, or terminal/stream")],
    from_: Annotated[
        str | None, typer.Option("--from", help="first day (YYYY-MM-DD, in --timezone)")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="last day (YYYY-MM-DD, in --timezone), included")
    ] = None,
    date_: Annotated[
        str | None, typer.Option("--date", help="one day (YYYY-MM-DD, in --timezone)")
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="write the originals and a manifest to this .tar or .zip"),
    ] = None,
    timelapse: Annotated[
        Path | None, typer.Option("--timelapse", help="write an H.264 timelapse to this .mp4")
    ] = None,
    fps: Annotated[int, typer.Option("--fps", help="timelapse frames per second")] = 12,
    tz: TimezoneOrTz = None,
    database_url: DatabaseUrl = None,
    download_dir: DownloadDir = None,
    storage_url: StorageUrl = None,
    terminal: Terminal = None,
) -> None:
    """Export a stream's images: originals with a manifest (.tar/.zip), or a timelapse MP4.

    Days run midnight to midnight in --timezone, like the web page's and `coverage`'s. The
    files keep the archive's UTC-date folders (apm/in_gate/2025-09-03/013000.jpg can belong
    to the Los Angeles day 2025-09-02). The manifest (manifest.json,
    manifest.csv, gaps.csv) gives each image's capture time in UTC and local time, size,
    sha256 and camera health flag, and every gap over 20 minutes.

    Example: gatecam export --stream in_gate --from 2025-09-01 --to 2025-09-07 --out week.tar
    """
    from gatecam.export import Selection, bundle_chunks, select_images, timelapse_chunks
    from gatecam.export.timelapse import check_fps, require_frames

    settings = load_settings(
        streams=stream,
        terminal=terminal,
        database_url=database_url,
        download_dir=download_dir,
        storage_url=storage_url,
        timezone=tz,
    )
    if (out_file is None) == (timelapse is None):
        raise InputError("give one of --out FILE.tar|.zip or --timelapse FILE.mp4")
    target = settings.targets[0]
    first, last = _export_days(from_, to, date_)
    if out_file is not None:
        fmt = out_file.suffix.lower().lstrip(".")
        if fmt not in ("tar", "zip"):
            raise InputError(f"--out {out_file}: the name must end in .tar or .zip")
        path = out_file
    else:
        assert timelapse is not None
        check_fps(fps)
        if timelapse.suffix.lower() != ".mp4":
            raise InputError(f"--timelapse {timelapse}: the name must end in .mp4")
        path = timelapse
    if not path.parent.is_dir():
        raise InputError(f"{path}: no such folder {path.parent}")
    _setup_logging()
    with _read_archive(settings) as archive:
        selection = Selection(target.terminal, target.stream, first, last, settings.zone)
        contents = select_images(archive.db, selection)
    store = archive.store
    if out_file is None:
        require_frames(contents)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    # A bar on a terminal only: a year of images takes minutes, a script wants no bar.
    with Progress(*columns, console=out, transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task(f"{target.terminal}/{target.stream}", total=len(contents.items))

        def advance() -> None:
            bar.advance(task)

        if out_file is not None:
            size = _write_export(path, bundle_chunks(contents, store, fmt, on_image=advance))
            what = f"{len(contents.items)} images and a manifest"
        else:
            chunks = timelapse_chunks(contents, store, fps=fps, on_frame=advance)
            size = _write_export(path, chunks)
            what = f"{len(contents.items)} images at {fps} fps"
    gaps = len(contents.gaps)
    out.print(
        f"wrote {path}: {what}, {size / 1e6:.1f} MB; "
        f"{gaps} gap{'' if gaps == 1 else 's'} over 20 min",
        markup=False,
    )


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"gatecam: error: {message}\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: every expected failure is one line on stderr and an exit code."""
    try:
        code = app(args=argv, prog_name="gatecam", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: unknown flag, missing option, bad type
        _fail(exc.format_message(), 2)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", Interrupted.code)
    except GatecamError as exc:
        _fail(str(exc), exc.code)
    except SQLAlchemyError as exc:
        # The database answered at start-up and was lost later: an outage, not bad input.
        _fail(f"database failed mid-command: {reason(exc)}", Unavailable.code)
    sys.exit(code if isinstance(code, int) else 0)
