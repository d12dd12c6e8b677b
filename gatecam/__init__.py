"""gatecam: archive port-terminal gate camera images on a schedule."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: one number, kept in pyproject.toml.
    __version__ = version("gatecam")
except PackageNotFoundError:  # pragma: no cover - run from a source tree never installed
    __version__ = "0+unknown"
