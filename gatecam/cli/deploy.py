"""The commands that print what a deployment needs: a systemd unit, Prometheus alert rules."""

from __future__ import annotations

import getpass
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from gatecam.cli.options import Host, Interval, Port, command_settings
from gatecam.deploy.service import DEFAULT_ENV_FILE, check_unit_value, systemd_unit
from gatecam.errors import InputError

_ACCOUNT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


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
    """Print a systemd unit that runs `gatecam run` as a service.

    The unit runs this installation's gatecam, with the settings of --env-file.

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


def alert_rules_command(interval: Interval = None) -> None:
    """Print Prometheus alert rules for gatecam's /metrics.

    Their limits follow the interval.

    Example: gatecam alert-rules --interval 10 > /etc/prometheus/rules/gatecam.yml
    """
    from gatecam.deploy.alerts import alert_rules

    settings = command_settings(locals())
    sys.stdout.write(alert_rules(settings.interval_minutes))
