"""The exceptions gatecam raises, each with the exit code the CLI turns it into.

    GatecamError              1  a run failed (or the machine did: disk full); the message says
                                 why in one line
    ├── InputError            2  bad setting, flag or date: nothing was done
    │   ├── InvalidSetting    2  one setting's value is invalid; names the setting
    │   └── DatabaseError     2  database URL malformed, missing database, schema out of date
    ├── Unavailable           3  a server (database, bucket endpoint) is down or not
    │                            answering, or was lost mid-run: try again later
    ├── Interrupted         130  stopped by Ctrl-C or SIGTERM; the run in flight is recorded
    ├── DiscoveryError        1  the camera page could not be read
    │   └── DayUnavailable    1  the page offers no way to show the asked-for day
    └── StorageError          1  the image store (folder or bucket) cannot be used

Exit code 2 always means "fix the input and try again"; nothing was written. Exit code 3
means nothing is wrong with the input: the same command may work in a minute.
"""

from __future__ import annotations


class GatecamError(Exception):
    """An error with a message a user can act on and an exit code for scripts."""

    code = 1


class InputError(GatecamError):
    """A setting, flag or argument is invalid; nothing was written."""

    code = 2


class InvalidSetting(InputError):
    """A setting's value is invalid; ``field`` names it so the CLI can name its flag."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DatabaseError(InputError):
    """The database cannot be reached or is not at the expected schema."""


class Unavailable(GatecamError):
    """A server is configured right but cannot be reached now (down, timeout, connection lost)."""

    code = 3


class Interrupted(GatecamError):
    """The user or the service manager asked gatecam to stop."""

    code = 130


class DiscoveryError(GatecamError):
    """Timestamps could not be listed from the camera page."""


class StorageError(GatecamError):
    """The image store cannot be reached or used: endpoint, bucket or credentials."""


class DayUnavailable(DiscoveryError):
    """The page offers no such day (in the future, or before the site's history)."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when it has none: for logs."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
