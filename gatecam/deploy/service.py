"""Running under systemd: the unit file gatecam ships, filled in, and journal-friendly logs."""

from __future__ import annotations

import logging
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from string import Template

from gatecam.errors import InputError

DEFAULT_ENV_FILE = Path("/etc/gatecam/gatecam.env")

# The journal stamps every line itself; sd-daemon's "<N>" prefix sets the line's priority,
# so `journalctl -p warning` finds gatecam's warnings.
_PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def deploy_file(name: str) -> str:
    """The text of a file shipped in ``gatecam/deploy/``."""
    return files("gatecam").joinpath("deploy", name).read_text(encoding="utf-8")


def check_unit_value(where: str, value: str) -> str:
    """``value``, or InputError if it cannot go into a unit file as one word of one line.

    A newline would end the line and start a directive of the caller's choosing (an
    ``ExecStartPre=``, run as root); other control characters are no part of a path or name.
    """
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise InputError(f"{where}: {value!r} holds a control character ({bad!r})")
    return value


def _quote(word: str) -> str:
    """One word of a unit file: ``%`` is a specifier there, and spaces split ExecStart."""
    word = word.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\;$" for c in word):
        escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
        return f'"{escaped}"'
    return word


def gatecam_command(executable: str = sys.executable) -> list[str]:
    """How to start this installation's gatecam: the script beside the interpreter, if any.

    The interpreter's path is kept as given (not resolved): a venv's ``bin/python`` is a
    symlink to the system Python, which would lose the venv's packages.
    """
    script = Path(executable).parent / "gatecam"
    if script.is_file():
        return [str(script)]
    return [executable, "-m", "gatecam"]


def systemd_unit(
    *, user: str, env_file: Path, run_args: Sequence[str], executable: str = sys.executable
) -> str:
    """The shipped unit with this installation's gatecam, ``user`` and settings file."""
    command = [*gatecam_command(executable), "run", *run_args]
    for word in command:
        check_unit_value("the gatecam command", word)
    check_unit_value("--user", user)
    check_unit_value("--env-file", str(env_file))
    return Template(deploy_file("gatecam.service")).substitute(
        user=_quote(user),
        env_file=_quote(str(env_file)),
        exec_start=" ".join(_quote(word) for word in command),
    )


def under_systemd(environ: Mapping[str, str]) -> bool:
    """Whether systemd started us (stderr then goes to the journal unless the unit says not)."""
    return bool(environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"))


class JournalFormatter(logging.Formatter):
    """``<priority>level message``: no timestamp, the journal adds its own."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in _PRIORITIES.items() if record.levelno >= level), 7)
        return f"<{priority}>{super().format(record)}"


def journal_formatter(environ: Mapping[str, str]) -> logging.Formatter | None:
    """The log format for the journal when systemd started us, else None (keep the usual)."""
    return JournalFormatter() if under_systemd(environ) else None
