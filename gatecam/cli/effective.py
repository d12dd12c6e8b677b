"""The settings a command would run with, each with where it came from, secrets masked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gatecam.database.engine import redact
from gatecam.errors import InputError
from gatecam.settings import ENV_ALIASES, DownloadConfig, env_name, flag_name, load_settings

# Shown as set or unset, never in clear: anyone reading over a shoulder could use it.
_SECRETS = frozenset({"web_token"})


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines as systemd's EnvironmentFile= reads them (comments, blanks, quotes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"--env-file: {path}: {why or exc}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise InputError(f"--env-file: {path} line {number}: NAME=value expected")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


def _variables(field: str) -> list[str]:
    """The variables that set ``field``, the one that wins first (as load_settings applies)."""
    return [env_name(field), *(alias for alias, name in ENV_ALIASES.items() if name == field)]


def _source(field: str, given: Mapping[str, Any], file_values: Mapping[str, str]) -> str:
    if given.get(field) is not None:
        return f"flag ({flag_name(field)})"
    for variable in _variables(field):
        if os.environ.get(variable):
            return f"environment ({variable})"
        if file_values.get(variable):
            return f"env file ({variable})"
    return "default"


def shown(field: str, value: Any) -> str:
    """A setting's value as printed: lists comma-separated, passwords and tokens masked."""
    if value is None:
        return "unset"
    if field in _SECRETS:
        return "******** (set)"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    text = str(value)
    return redact(text) if "://" in text else text


def settings_rows(given: Mapping[str, Any], env_file: Path | None) -> list[tuple[str, str, str]]:
    """(variable, effective value, where it came from) of every setting.

    ``given`` are the flags; ``env_file`` is read under the environment, which wins over it,
    as a shell's variables win over a .env file. Invalid or unknown values are refused, as
    any command would refuse them.
    """
    file_values = read_env_file(env_file) if env_file is not None else {}
    settings = load_settings({**file_values, **os.environ}, **given)
    return [
        (
            env_name(field),
            shown(field, getattr(settings, field)),
            _source(field, given, file_values),
        )
        for field in DownloadConfig.model_fields
    ]
