"""The commands that read the archive: stats, coverage, web, export, and the settings."""

from __future__ import annotations

import gc
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from gatecam.archive import Archive
from gatecam.cli.console import items_progress, say, serve_until_stopped, setup_logging
from gatecam.cli.effective import settings_rows
from gatecam.cli.options import (
    AppUrl,
    AsJson,
    BatchSize,
    CdnUrl,
    Concurrency,
    DatabaseUrl,
    DownloadDir,
    FromDay,
    Host,
    Interval,
    OnlyTerminal,
    Port,
    RetentionDays,
    StorageUrl,
    Streams,
    Terminal,
    Timezone,
    TimezoneOrTz,
    ToDay,
    command_settings,
    day_range,
    given_settings,
    parse_day,
    read_archive,
    read_database,
)
from gatecam.database import queries
from gatecam.database.stats import get_stats
from gatecam.errors import InputError
from gatecam.export.output import write_export
from gatecam.health import Limits
from gatecam.health.read import verdicts
from gatecam.model import Target, check_name
from gatecam.settings import DownloadConfig


def stats(
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    only_terminal: OnlyTerminal = None,
) -> None:
    """Print download statistics and each stream's state.

    Example: gatecam stats --json
    """
    settings = command_settings(locals())
    if only_terminal is not None:
        check_name(only_terminal, "--terminal")
    db = read_database(settings)
    try:
        with db.read_scope() as session:
            known = queries.terminals(session)
            if only_terminal is not None and only_terminal not in known:
                listed = ", ".join(known) or "none yet"
                raise InputError(
                    f"--terminal: no terminal {only_terminal!r} in the database ({listed})"
                )
            data = get_stats(session, only_terminal).as_dict()
            limits = Limits(
                interval=timedelta(minutes=settings.interval_minutes),
                silent_after=timedelta(minutes=settings.silent_minutes),
            )
            # The streams that ran in the last day, judged as /healthz judges them.
            found = [
                v
                for v in verdicts(session, None, datetime.now(UTC), limits)
                if only_terminal is None or v.terminal == only_terminal
            ]
    finally:
        db.dispose()
    if as_json:
        data["streams"] = {
            v.name: {"state": v.state.code, "since": v.since and v.since.isoformat()}
            | {"reason": v.reason}
            for v in found
        }
        say(json.dumps(data, sort_keys=True))
        return
    for key, value in data.items():
        if key == "downloads_by_stream":
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
        say(f"{key:<20} {'-' if value is None else value}")
    for v in found:
        since = f" since {v.since.isoformat()}" if v.since else ""
        why = f": {v.reason}" if v.reason else ""
        say(f"{'state ' + v.name:<20} {v.state.value}{since}{why}")


def coverage(
    from_: FromDay,
    to: ToDay,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    only_terminal: OnlyTerminal = None,
    timezone: Timezone = None,
) -> None:
    """Show each stream's images, gaps and completeness per hour.

    Per stream and hour: images held against the cadence, gaps over 20 min, completeness.

    Days run midnight to midnight in --timezone, as in `export` and on the web page: the
    same day holds the same images everywhere.

    Example: gatecam coverage --from 2025-09-01 --to 2025-09-07 --json
    """
    from gatecam.health.coverage import check_range, coverage_report

    settings = command_settings(locals())
    first, last = day_range(from_, to)
    check_range(first, last)
    if only_terminal is not None:
        check_name(only_terminal, "--terminal")
    db = read_database(settings)
    try:
        report = coverage_report(db, first, last, terminal=only_terminal, zone=settings.zone)
    finally:
        db.dispose()
    if as_json:
        say(json.dumps(report.as_dict(), sort_keys=True))
        return
    for line in report.lines():
        say(line)


def check_port(host: str, port: int) -> None:
    """Fail before the database or the archive folder is made if host:port cannot be served."""
    from gatecam.web.serve import bind

    try:
        bind(host, port).close()
    except OSError as exc:
        raise InputError(f"--port / --host: {exc}") from None


def web_server(
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
    say(f"web page and API on {server.url} (Ctrl-C stops)")
    return server


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
    """Serve a read-only web page and JSON API over the archive.

    Days run midnight to midnight in --timezone, and a time without an offset (/at?time=,
    /api/images?from=) is local time there.

    Example: gatecam web --port 8080 --timezone America/Los_Angeles --streams apm/in_gate
    """
    settings = command_settings(locals())
    # GATECAM_STREAMS is the scheduler's; only the flag names the streams health judges here.
    judged = settings.targets if streams is not None else None
    setup_logging()
    with read_archive(settings) as archive:
        if settings.storage_url:
            archive.store.check()  # a bucket answers a HEAD without change; a folder is only read
        server = web_server(archive, settings, host, port, judged)
        # Everything loaded so far lives as long as the process: out of the collector's sight,
        # a full collection no longer walks it while every request waits (p99 under 50
        # clients on PostgreSQL: 376-384 ms without, 169-232 ms with).
        gc.freeze()
        serve_until_stopped(server.serve_forever)


def _export_days(from_: str | None, to: str | None, day: str | None) -> tuple[date, date]:
    if day is not None:
        if from_ is not None or to is not None:
            raise InputError("give --date, or --from and --to, not both")
        one = parse_day(day, "--date")
        return one, one
    if from_ is None or to is None:
        raise InputError("which days? give --date, or --from and --to")
    return day_range(from_, to)


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
    """Export a stream's images as .tar/.zip or a timelapse MP4.

    Originals with a manifest (.tar/.zip), or an H.264 timelapse (.mp4).

    Days run midnight to midnight in --timezone, like the web page's and `coverage`'s. The
    files keep the archive's UTC-date folders (apm/in_gate/2025-09-03/013000.jpg can belong
    to the Los Angeles day 2025-09-02). The manifest (manifest.json,
    manifest.csv, gaps.csv) gives each image's capture time in UTC and local time, size,
    sha256 and camera health flag, and every gap over 20 minutes.

    Example: gatecam export --stream in_gate --from 2025-09-01 --to 2025-09-07 --out week.tar
    """
    from gatecam.export import Selection, bundle_chunks, select_images, timelapse_chunks
    from gatecam.export.timelapse import check_fps, require_frames

    settings = command_settings(locals())
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
    setup_logging()
    with read_archive(settings) as archive:
        selection = Selection(target.terminal, target.stream, first, last, settings.zone)
        contents = select_images(archive.db, selection)
    store = archive.store
    if out_file is None:
        require_frames(contents)
    # A bar on a terminal only: a year of images takes minutes.
    with items_progress() as bar:
        task = bar.add_task(f"{target.terminal}/{target.stream}", total=len(contents.items))

        def advance() -> None:
            bar.advance(task)

        if out_file is not None:
            size = write_export(path, bundle_chunks(contents, store, fmt, on_image=advance))
            what = f"{len(contents.items)} images and a manifest"
        else:
            chunks = timelapse_chunks(contents, store, fps=fps, on_frame=advance)
            size = write_export(path, chunks)
            what = f"{len(contents.items)} images at {fps} fps"
    gaps = len(contents.gaps)
    say(
        f"wrote {path}: {what}, {size / 1e6:.1f} MB; "
        f"{gaps} gap{'' if gaps == 1 else 's'} over 20 min"
    )


def settings_command(
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="also read this NAME=value file, as systemd's EnvironmentFile= does "
            "(the environment wins over it)",
        ),
    ] = None,
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
) -> None:
    """Show each setting's value and where it came from.

    The effective values, as a command run now would use them; secrets are masked.

    FROM is the flag, the environment variable, the env file or the default. Flags given
    here show what a command given the same flags would use.

    Example: gatecam settings --env-file /etc/gatecam/gatecam.env
    """
    rows = settings_rows(given_settings(locals()), env_file)
    width = max(len(value) for _, value, _ in rows)
    width = min(max(width, len("VALUE")), 48)
    for setting, value, source in [("SETTING", "VALUE", "FROM"), *rows]:
        say(f"{setting:<26} {value:<{width}} {source}".rstrip())
