"""The commands that look after the archive and its source: verify, probe."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gatecam.cli.console import say, setup_logging
from gatecam.cli.options import (
    AppUrl,
    CdnUrl,
    DatabaseUrl,
    DownloadDir,
    OnlyTerminal,
    StorageUrl,
    Terminal,
    Verbose,
    command_settings,
    not_future,
    parse_day,
    read_archive,
)
from gatecam.errors import GatecamError, InputError
from gatecam.model import check_name


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
    only_terminal: OnlyTerminal = None,
    verbose: Verbose = False,
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash", help="first measure camera health figures of images that lack them"
        ),
    ] = False,
) -> None:
    """Check files against the database; exit 1 unless they agree.

    Files whose size or checksum differs from their row are reported and left alone, unless
    --accept-changed or --quarantine-changed says otherwise. --repair moves symlinks and
    files that are not complete JPEGs into <download-dir>.quarantine/.

    Example: gatecam verify --repair --no-checksums
    """
    from gatecam.upkeep.verify import Changed, verify_archive

    settings = command_settings(locals())
    if only_terminal is not None:
        check_name(only_terminal, "--terminal")
    if accept_changed and quarantine_changed:
        raise InputError("--accept-changed and --quarantine-changed: choose one")
    changed: Changed = (
        "accept" if accept_changed else "quarantine" if quarantine_changed else "report"
    )
    setup_logging(verbose)
    with read_archive(settings) as archive:
        if rehash:
            from gatecam.upkeep.rehash import rehash as run_rehash

            say(run_rehash(archive.db, archive.store, terminal=only_terminal).line())
        report = verify_archive(
            archive.db,
            archive.store,
            terminal=only_terminal,
            repair=repair,
            changed=changed,
            checksums=not no_checksums,
        )
    for line in report.summary_lines():
        say(line)
    if not report.consistent:
        raise GatecamError(f"archive and database disagree: {report.problems} problem(s) left")


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
    """Run discovery once and keep all it saw, for a bug report.

    The bundle holds a screenshot, the DOM, a HAR and what found what.

    Send the bundle's folder with a bug report when discovery breaks.

    Example: gatecam probe --stream in_gate --date 2025-09-01 --out probe-in_gate
    """
    from gatecam.sources import build_source

    settings = command_settings(locals())
    day = (
        datetime.now(UTC).date()
        if date_ is None
        else not_future(parse_day(date_, "--date"), "--date")
    )
    target = settings.targets[0]
    source = build_source(settings)
    out_dir = out_dir or Path(f"probe-{target.stream}-{day}")
    setup_logging(verbose)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out: {out_dir}: {exc.strerror}") from None
    report = source.probe(target.terminal, target.stream, day, out_dir)
    for line in report.lines():
        say(line)
    if not report.ok:
        raise GatecamError(f"discovery failed; send the folder {out_dir} with your report")
