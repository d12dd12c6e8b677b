"""The exceptions gatecam raises, each with the exit code the CLI turns it into.

    GatecamError              1  a run failed; the message says why in one line
    ├── InputError            2  bad setting, flag or date: nothing was done
    │   └── DatabaseError     2  database URL malformed, missing database, schema out of date
    ├── Unavailable           3  the database server is down or not answering: try again later
    ├── Interrupted         130  stopped by Ctrl-C or SIGTERM; the run in flight is recorded
    ├── DiscoveryError        1  the camera page could not be read
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


class DatabaseError(InputError):
    """The database cannot be reached or is not at the expected schema."""


class Unavailable(GatecamError):
    """The database is configured right but cannot be reached now (server down, timeout)."""

    code = 3


class Interrupted(GatecamError):
    """The user or the service manager asked gatecam to stop."""

    code = 130


class DiscoveryError(GatecamError):
    """Timestamps could not be listed from the camera page."""


class StorageError(GatecamError):
    """The image store cannot be reached or used: endpoint, bucket or credentials."""
