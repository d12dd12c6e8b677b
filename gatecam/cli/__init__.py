"""The ``gatecam`` command: settings in, one line out on error, exit codes from errors.py.

Each family of commands lives in a module of its own; this one builds the app from them and
turns what they raise into one line on stderr and an exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from gatecam import __version__
from gatecam.cli import archiving, db, deploy, reading, upkeep
from gatecam.cli.console import Stopped, say
from gatecam.database.engine import reason
from gatecam.errors import GatecamError, Interrupted, InvalidSetting, Unavailable
from gatecam.settings import setting_label

__all__ = ["app", "main"]

app = typer.Typer(
    name="gatecam",
    help="Archive Dray Dog gate-camera images on a schedule, with every image in a database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# In the order `gatecam --help` lists them: the daily work first, the one-off setup last.
COMMANDS: dict[str, Callable[..., None]] = {
    "run": archiving.run,
    "once": archiving.once,
    "retry-missed": archiving.retry_missed,
    "backfill": archiving.backfill,
    "stats": reading.stats,
    "verify": upkeep.verify,
    "web": reading.web,
    "coverage": reading.coverage,
    "probe": upkeep.probe,
    "settings": reading.settings_command,
    "simulate": archiving.simulate,
    "systemd-unit": deploy.systemd_unit_command,
    "alert-rules": deploy.alert_rules_command,
    "export": reading.export,
}


def _summary(command: Callable[..., None]) -> str:
    """The first line of a command's docstring: its whole summary in `gatecam --help`."""
    return str(command.__doc__ or "").strip().splitlines()[0]


DB_COMMANDS: dict[str, Callable[..., None]] = {
    "upgrade": db.db_upgrade,
    "backup": db.db_backup,
    "copy": db.db_copy,
}
db_app = typer.Typer(help="Upgrade, back up or copy the database.", no_args_is_help=True)

for _group, _commands in ((app, COMMANDS), (db_app, DB_COMMANDS)):
    for _name, _command in _commands.items():
        # short_help given, Click never shortens the docstring's first line with "...".
        _group.command(_name, short_help=_summary(_command))(_command)
app.add_typer(db_app, name="db", short_help=db_app.info.help)


def _print_version(value: bool) -> None:
    if value:
        say(f"gatecam {__version__}")
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


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"gatecam: error: {message}\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: every expected failure is one line on stderr and an exit code."""
    try:
        code = app(args=argv, prog_name="gatecam", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: unknown flag, missing option, bad type
        _fail(exc.format_message(), 2)
    except (typer.Abort, KeyboardInterrupt, Stopped) as exc:
        # Ctrl-C is what the person wanted: said calmly, not as an error.
        what = str(exc) if isinstance(exc, Stopped) else "stopped by Ctrl-C"
        sys.stderr.write(f"gatecam: {what}\n")
        sys.exit(Interrupted.code)
    except InvalidSetting as exc:
        # Raised below the CLI, which alone knows a setting's flag and variable.
        _fail(f"{setting_label(exc.field)}: {exc.message}", exc.code)
    except GatecamError as exc:
        _fail(str(exc), exc.code)
    except SQLAlchemyError as exc:
        # The database answered at start-up and was lost later: an outage, not bad input.
        _fail(f"database failed mid-command: {reason(exc)}", Unavailable.code)
    sys.exit(code if isinstance(code, int) else 0)
