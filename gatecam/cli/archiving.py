"""The commands that fetch images: run, once, backfill, retry-missed, and the stand-in site."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from sqlalchemy import func, select

from gatecam import days as local_days
from gatecam.cli.console import (
    logger,
    out,
    runs_progress,
    say,
    serve_until_stopped,
    setup_logging,
    stop_signals,
)
from gatecam.cli.options import (
    AppUrl,
    BatchSize,
    CdnUrl,
    Concurrency,
    DatabaseUrl,
    DownloadDir,
    FromDay,
    Host,
    Interval,
    Port,
    RetentionDays,
    StorageUrl,
    Streams,
    Terminal,
    Timezone,
    ToDay,
    Verbose,
    command_settings,
    day_range,
    not_future,
    parse_day,
)
from gatecam.cli.reading import check_port, web_server
from gatecam.database.engine import Database, redact
from gatecam.database.models import DownloadRun
from gatecam.downloader.job import HOST, RunResult
from gatecam.downloader.scheduler import ImageDownloadScheduler
from gatecam.errors import GatecamError, InputError, Interrupted
from gatecam.export.daily import render_finished_days
from gatecam.settings import DownloadConfig
from gatecam.storage.folders import download_dir

# Each run opens the camera page once: ten years of one stream is 3,653 page loads, hours of
# work a typo in --from can start.
BACKFILL_ASK_DAYS = 31


def _scheduler(settings: DownloadConfig) -> ImageDownloadScheduler:
    """A scheduler writing into the configured archive; bad settings leave nothing behind."""
    if settings.storage_url:
        return ImageDownloadScheduler(settings)
    with download_dir(settings.download_dir):
        return ImageDownloadScheduler(settings)


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


def _print_result(result: RunResult) -> None:
    say(result.summary())


def _stored_since(settings: DownloadConfig, started: datetime) -> int:
    """Images this process's runs stored since ``started``, as recorded with each run."""
    db = Database(settings.database_url, create=False)
    try:
        with db.read_scope() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(DownloadRun.downloaded), 0)).where(
                    DownloadRun.host == HOST,
                    DownloadRun.pid == os.getpid(),
                    DownloadRun.started_at >= started,
                )
            )
    finally:
        db.dispose()
    return int(total or 0)


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
    """Download new images now, then every interval, until stopped.

    SIGTERM (systemctl stop) ends it with exit 0; Ctrl-C with exit 130, as a shell expects.

    Example: gatecam run --streams apm/in_gate,apm/out_gate --interval 10 --web
    """
    settings = command_settings(locals())
    if web:
        check_port(host, port)
    setup_logging(verbose)
    scheduler = _scheduler(settings)
    started = datetime.now(UTC)
    with contextlib.ExitStack() as stack:
        stack.callback(scheduler.stop)
        if web:
            # Health judges the streams this process runs.
            server = web_server(scheduler.archive, settings, host, port, settings.targets)
            server.start()
            stack.callback(server.stop)
        where = scheduler.store.describe()
        logger.info("archiving into %s, database %s", where, redact(settings.database_url))
        # Each finished day's MP4, made once so the day page plays it at once.
        targets = [(t.terminal, t.stream) for t in settings.targets]
        scheduler.add_hourly(
            lambda: render_finished_days(
                scheduler.db, scheduler.store, settings.zone, streams=targets
            ),
            "timelapse of finished days",
        )
        with stop_signals(lambda: None) as stop:
            scheduler.start()
            stop.event.wait()
    if stop.by_ctrl_c:
        stop.calm_end(_stored_since(settings, started))


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
    """Fetch what the camera page lists and the archive lacks, once.

    Then exit: 0 when every run is a success.

    Example: gatecam once --streams in_gate,out_gate --date 2025-09-01
    """
    settings = command_settings(locals())
    # `--date ""` is a date given wrong, not "today": only a missing flag means today.
    day = None if date_ is None else not_future(parse_day(date_, "--date"), "--date", settings.zone)
    setup_logging(verbose)
    scheduler = _scheduler(settings)
    try:
        with stop_signals(scheduler.request_stop) as stop:
            results = scheduler.run_once(day, on_result=_print_result)
    finally:
        scheduler.stop()
    stop.calm_end(sum(r.downloaded for r in results))
    _report(results, stop.received is not None)


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
    """Try again every image the site listed that is not stored.

    Example: gatecam retry-missed --streams in_gate
    """
    settings = command_settings(locals())
    setup_logging(verbose)
    scheduler = _scheduler(settings)
    try:
        with stop_signals(scheduler.request_stop) as stop:
            results = scheduler.retry_missed(on_result=_print_result)
    finally:
        scheduler.stop()
    if not results and stop.received is None:
        say("nothing missed: every image the site listed is stored")
    stop.calm_end(sum(r.downloaded for r in results))
    _report(results, stop.received is not None)


def _confirm_backfill(first: date, last: date, runs: int, yes: bool) -> None:
    days = (last - first).days + 1
    if days > BACKFILL_ASK_DAYS and not yes:
        raise InputError(
            f"--from {first} --to {last} is {days:,} days: {runs:,} runs, each loading the "
            f"camera page; add --yes to start them"
        )


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def backfill_summary(days: int, results: list[RunResult], seconds: float) -> str:
    """The last line of a backfill: how much it covered and did, and how long it took."""
    stored = sum(r.downloaded for r in results)
    missed = sum(len(r.failed) for r in results)
    bad_runs = sum(1 for r in results if not r.ok and not r.skipped)
    return (
        f"backfill: {_count(days, 'day')}, {_count(len(results), 'run')} "
        f"({bad_runs:,} not successful), {_count(stored, 'image')} stored, {missed:,} missed, "
        f"in {_elapsed(seconds)}"
    )


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
    """Archive a range of past days, skipping what is archived.

    One run per stream and UTC date of the site. The days run midnight to midnight in
    --timezone; the site lists by UTC date, so a range lists one UTC date more than its days
    (2025-09-01 to 2025-09-07 in Los Angeles lists the UTC dates 2025-09-01 to 2025-09-08).

    Example: gatecam backfill --from 2025-09-01 --to 2025-09-07 --streams in_gate
    """
    settings = command_settings(locals())
    first, last = day_range(from_, to)
    not_future(last, "--to", settings.zone)
    dates = local_days.site_dates(first, last, settings.zone)
    _confirm_backfill(first, last, len(dates) * len(settings.targets), yes)
    # Bar, results and log lines share one console, so log lines never cut through the bar.
    setup_logging(verbose, out)
    scheduler = _scheduler(settings)
    began = time.monotonic()
    try:
        with stop_signals(scheduler.request_stop) as stop, runs_progress() as progress:
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
            summary = backfill_summary((last - first).days + 1, results, time.monotonic() - began)
            progress.console.print(summary, markup=False, highlight=False)
    finally:
        scheduler.stop()
    stop.calm_end(sum(r.downloaded for r in results))
    _report(results, stop.received is not None)


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
    """Serve a stand-in Dray Dog site, for demos and tests.

    The camera page and the CDN, on this host.

    Example: gatecam simulate --port 8765 --variant paged --variant longpoll
    """
    from gatecam.sources.draydog.standin.server import StandIn

    setup_logging()
    try:
        standin = StandIn(host, port, latency=latency, variants=variant or [])
    except ValueError as exc:
        raise InputError(f"--variant: {exc}") from None
    except OSError as exc:
        raise InputError(f"--port: cannot listen on {host}:{port}: {exc.strerror}") from None

    say(
        f"stand-in Dray Dog site on {standin.app_url}\n"
        f"  GATECAM_APP_URL={standin.app_url} GATECAM_CDN_URL={standin.cdn_url}"
    )
    serve_until_stopped(standin.serve_forever)
