"""The exceptions gatecam raises, each with the exit code the CLI turns it into.

    GatecamError              1  a run failed; the message says why in one line
    ├── InputError            2  bad setting, flag or date: nothing was done
    │   └── DatabaseError     2  database URL malformed or unreachable, schema out of date
    ├── DiscoveryError        1  the camera page could not be read
    └── DownloadError         1  an image could not be fetched or stored

Exit code 2 always means "fix the input and try again"; nothing was written.
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


class DiscoveryError(GatecamError):
    """Timestamps could not be listed from the camera page."""


class DownloadError(GatecamError):
    """One image could not be downloaded or written."""
