"""Which folder and files are gatecam's: the archive's marker, its writers' lock, its own
temporary files, and the refusal of a folder shared with everything else (``/``, ``$HOME``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gatecam.errors import InvalidSetting
from gatecam.storage.quarantine import LOCK_NAME, MARKER_NAME, own_parts


def remove_partials(download_dir: Path) -> int:
    """Delete gatecam's temporary image files a crash left in the day folders; return how many.

    Only names ``write_atomic`` gives, in the key layout: any other file (another program's
    ``.part`` download, a person's notes) is not gatecam's to delete.
    """
    removed = 0
    for part in own_parts(Path(download_dir)):
        # Another process may have cleaned up the same file meanwhile.
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
            removed += 1
    return removed


# Folders that hold far more than an archive. As the archive folder gatecam would lock, scan
# and list the whole of one: refused unless empty or already a gatecam archive.
_SYSTEM_FOLDERS = frozenset(
    "/bin /boot /dev /etc /home /lib /opt /root /sbin /srv /usr /var".split()  # noqa: SIM905
)


def refuse_shared_folder(root: Path) -> None:
    """Raise InvalidSetting if ``root`` is ``/``, a system folder or the home folder and holds
    files but no gatecam archive (its marker or writers' lock). Nothing is written."""
    where = os.path.realpath(root)
    home = None
    with contextlib.suppress(RuntimeError, KeyError):  # no HOME and no passwd entry
        home = os.path.realpath(Path.home())
    if where == "/":
        what = "the root folder"
    elif where == home:
        what = "your home folder"
    elif where in {os.path.realpath(folder) for folder in _SYSTEM_FOLDERS}:
        what = "a system folder"
    else:
        return
    folder = Path(where)
    if is_archive(folder) or not folder.is_dir() or next(folder.iterdir(), None) is None:
        return
    raise InvalidSetting(
        "download_dir",
        f"{root} is {what} and holds other files; give gatecam a folder of its own, "
        f"e.g. {folder / 'gatecam-images'}",
    )


def mark(root: Path) -> None:
    # Says what the folder is to people and to ``refuse_shared_folder``; the lock file says
    # the same if it cannot be written.
    with contextlib.suppress(OSError), (root / MARKER_NAME).open("x", encoding="utf-8") as f:
        f.write(_MARKER_TEXT)


def is_archive(folder: Path) -> bool:
    """True if gatecam keeps an archive in ``folder`` (its marker, or a writer's lock)."""
    return any((folder / name).is_file() for name in (MARKER_NAME, LOCK_NAME))


class WriterLock:
    """Held, shared, by every gatecam process that writes into one archive folder.

    A ``.part`` file is only stale when no other writer is alive, so partial files are
    removed only by a process that manages to take the lock exclusively; the kernel drops
    the lock of a killed process.
    """

    def __init__(self, download_dir: Path) -> None:
        self.download_dir = Path(download_dir)
        self._fd: int | None = None

    def acquire(self) -> int:
        """Join the writers; first remove stale partial files if alone. Return how many."""
        if self._fd is not None:
            return 0
        self.download_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.download_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        removed = 0
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another writer is alive: its .part files are in flight
        else:
            removed = remove_partials(self.download_dir)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._fd = fd
        return removed

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_MARKER_TEXT = (
    "This folder is a gatecam image archive. gatecam deletes nothing here but its own\n"
    "temporary image files (<terminal>/<stream>/<day>/.<HHMMSS>.jpg.<hex>.part).\n"
)
