"""What the commands share on their way in: option types, days, and the settings they build."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, tzinfo
from pathlib import Path
from typing import Annotated, Any

import typer

from gatecam import days as local_days
from gatecam.archive import Archive, open_archive
from gatecam.database.engine import Database
from gatecam.database.migrate import require_current
from gatecam.errors import InputError
from gatecam.settings import DownloadConfig, env_name, flag_name, load_settings


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
# A filter on what is read, not the setting: its parameter is not named `terminal`.
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

# Command parameters that give a setting under another name.
_FIELDS = {"interval": "interval_minutes", "tz": "timezone", "stream": "streams"}


def given_settings(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The settings among a command's ``arguments`` (its parameters), by field name.

    A parameter gives a setting when it is named for one (or in ``_FIELDS``); None is "not
    given". Parameters for anything else must be named otherwise (see ``OnlyTerminal``).
    """
    fields = DownloadConfig.model_fields
    given = {_FIELDS.get(name, name): value for name, value in arguments.items()}
    return {field: value for field, value in given.items() if field in fields}


def command_settings(arguments: Mapping[str, Any]) -> DownloadConfig:
    """The settings a command runs with: GATECAM_* and the defaults, its flags on top.

    Called first thing with ``locals()``, so each command lists its flags once, in its
    signature, and no command can forget to pass one on.
    """
    return load_settings(**given_settings(arguments))


def parse_day(value: str, flag: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{flag}: {value!r} is not a date (YYYY-MM-DD)") from None


def day_range(from_: str, to: str) -> tuple[date, date]:
    first, last = parse_day(from_, "--from"), parse_day(to, "--to")
    if first > last:
        raise InputError(f"--from {first} is after --to {last}")
    return first, last


def not_future(day: date, flag: str, where: tzinfo = UTC) -> date:
    if day > local_days.today(where):
        raise InputError(f"{flag}: {day} is in the future")
    return day


def read_archive(settings: DownloadConfig) -> Archive:
    """The archive at the latest schema, for commands that read it: nothing is created.

    The store is not contacted: `verify` checks it before it judges, `web` before it serves.
    """
    return open_archive(settings, write=False)


def read_database(settings: DownloadConfig) -> Database:
    """An existing database at the latest schema, for commands that only read it."""
    db = Database(settings.database_url, create=False)
    try:
        require_current(db)
    except BaseException:
        db.dispose()
        raise
    return db
