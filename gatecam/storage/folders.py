"""The archive folder made on demand, and unmade again if what needed it fails."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from gatecam.errors import InvalidSetting
from gatecam.storage.ownership import refuse_shared_folder


@contextlib.contextmanager
def download_dir(path: Path) -> Iterator[None]:
    """Create the archive folder, or fail with one line; undo it if what follows fails.

    Bad input must leave no trace, and a folder that cannot be made (/proc/...,
    /sys/..., a file in the way) is bad input.
    """
    refuse_shared_folder(path)  # before the write test below: a refused folder stays as it was
    missing: list[Path] = []
    folder = path.absolute()
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir():
        # mkdir would say "File exists" or "Not a directory": name the file in the way.
        raise InvalidSetting("download_dir", f"{folder} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gatecam-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        remove_folders(missing)
        reason = exc.strerror or type(exc).__name__
        raise InvalidSetting("download_dir", f"{path}: {reason}") from None
    try:
        yield
    except BaseException:
        remove_folders(missing)
        raise


def remove_folders(folders: list[Path]) -> None:
    """Remove each of ``folders`` that is empty, deepest first; the others stay."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()
