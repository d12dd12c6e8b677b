"""What does not belong in the archive folder: found without following symlinks, moved aside.

The archive folder holds image files in ``<terminal>/<stream>/<day>/``, their temporary files
(``.<HHMMSS>.jpg.<hex>.part`` beside them), gatecam's lock and marker files and its thumbnail
folder. Everything else is a foreign file: reported, never deleted. A symlink (to a file or
a folder anywhere on the host) or a FIFO there is never indexed nor served; ``gatecam verify
--repair`` moves it into the quarantine folder beside the archive,
``<download_dir>.quarantine/``, at the same relative path, and appends one line per move
(time, path, reason) to its ``quarantine.log``. The quarantine deletes nothing.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gatecam.storage.base import IMAGE_SUFFIX, parse_image_key

# gatecam's own files in the folder: a write in flight, the writers' lock, the marker that
# says the folder is a gatecam archive, and the folders of files made from the images.
PART_SUFFIX = ".part"
LOCK_NAME = ".gatecam.lock"
MARKER_NAME = ".gatecam-archive"
DERIVED_FOLDERS = frozenset({".thumbs", ".timelapse"})
# What ``write_atomic`` names the temporary file of an image: ``.<image name>.<hex>.part``.
# Only such names, in a day folder of the key layout, are ever deleted: a ``.part`` file of
# another program (a browser's download) may sit in the same folder.
_OWN_PART = re.compile(
    rf"\.(\d{{6}}{re.escape(IMAGE_SUFFIX)})\.[0-9a-f]{{6,32}}{re.escape(PART_SUFFIX)}"
)
QUARANTINE_SUFFIX = ".quarantine"
LOG_NAME = "quarantine.log"
# Folder levels of a key: terminal, stream, day; image files sit at this depth.
_IMAGE_DEPTH = 3


@dataclass(frozen=True)
class Finding:
    """One entry of the archive folder that is not an image of the archive."""

    path: str  # relative to the archive folder, with "/"
    reason: str
    # True for what must not stay (symlinks, FIFOs, devices); False for stray files and
    # folders, which are only reported: they may be a person's notes, and harm nothing.
    unsafe: bool


def quarantine_dir(root: Path) -> Path:
    """``<root>.quarantine`` beside the archive folder (outside it: never listed or served)."""
    absolute = Path(os.path.abspath(root))
    return absolute.with_name(absolute.name + QUARANTINE_SUFFIX)


def part_name(name: str, token: str) -> str:
    """The temporary file name ``write_atomic`` gives an image file ``name`` while writing."""
    return f".{name}.{token}{PART_SUFFIX}"


def is_own_part(rel: str) -> bool:
    """True if ``rel`` (relative, with "/") is a temporary image file gatecam itself writes."""
    folder, _, name = rel.rpartition("/")
    match = _OWN_PART.fullmatch(name)
    return match is not None and parse_image_key(f"{folder}/{match[1]}") is not None


def own_parts(root: Path, terminal: str | None = None) -> Iterator[Path]:
    """gatecam's temporary image files in the day folders under ``root``, in path order.

    Only the key layout is walked, no symlinked folder followed, only regular files listed.
    """
    yield from _own_parts(Path(root), "", 0, terminal)


def _own_parts(folder: Path, rel: str, depth: int, terminal: str | None) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            children = sorted(entries, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for child in children:
        path = f"{rel}{child.name}"
        try:
            if depth < _IMAGE_DEPTH:
                if child.is_dir(follow_symlinks=False) and terminal in (None, path):
                    yield from _own_parts(Path(child.path), path + "/", depth + 1, None)
            elif child.is_file(follow_symlinks=False) and is_own_part(path):
                yield Path(child.path)
        except FileNotFoundError:
            continue  # renamed into place meanwhile


def scan(root: Path, terminal: str | None = None) -> Iterator[Finding]:
    """Every symlink, special file and stray file or folder under ``root``, in path order.

    Image-named regular files in day folders and gatecam's own files are not findings:
    whether an image file is a complete JPEG is for its reader to judge.
    """
    if terminal is None:
        yield from _scan(root, "", 0)
        return
    try:
        mode = (root / terminal).lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        yield from _scan(root / terminal, f"{terminal}/", 1)
    elif finding := _judge(root / terminal, terminal, _kind(mode), 0):
        yield finding


_LINK, _DIR, _FILE, _OTHER = "link", "dir", "file", "other"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return _LINK
    if stat.S_ISDIR(mode):
        return _DIR
    return _FILE if stat.S_ISREG(mode) else _OTHER


def _entry_kind(entry: os.DirEntry[str]) -> str:
    # The directory entry's type, read without a stat call per file (a million files).
    if entry.is_symlink():
        return _LINK
    if entry.is_dir(follow_symlinks=False):
        return _DIR
    return _FILE if entry.is_file(follow_symlinks=False) else _OTHER


def _scan(folder: Path, rel: str, depth: int) -> Iterator[Finding]:
    with os.scandir(folder) as entries:
        children = sorted(entries, key=lambda entry: entry.name)
    for child in children:
        path = f"{rel}{child.name}"
        try:
            kind = _entry_kind(child)
        except FileNotFoundError:
            continue  # removed meanwhile (a download's .part renamed into place)
        if depth == 0 and child.name in DERIVED_FOLDERS and kind == _DIR:
            continue  # gatecam's thumbnails: made from the images, never images themselves
        if kind == _DIR and depth < _IMAGE_DEPTH:
            yield from _scan(Path(child.path), path + "/", depth + 1)
        elif finding := _judge(Path(child.path), path, kind, depth):
            yield finding


def _judge(path: Path, rel: str, kind: str, depth: int) -> Finding | None:
    if kind == _LINK:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return Finding(rel, f"a symlink (to {target}), not a file", True)
    if kind == _DIR:
        return Finding(rel, "a folder where only images belong", False)
    if kind == _OTHER:
        return Finding(rel, "not a regular file (a FIFO, socket or device)", True)
    if is_own_part(rel) or (depth == 0 and rel in (LOCK_NAME, MARKER_NAME)):
        return None  # gatecam's own: a download in flight, the writers' lock, the marker
    if depth == _IMAGE_DEPTH and parse_image_key(rel) is not None:
        return None
    return Finding(rel, "not an image of the archive (its name is not an image key)", False)


class Quarantine:
    """Moves entries out of the archive folder into ``<root>.quarantine``, logging why."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = quarantine_dir(self.root)

    def move(self, rel: str, reason: str) -> Path:
        """Move ``<root>/<rel>`` (a symlink itself, never its target); return where it went.

        Raises OSError if it cannot be moved (another file system, permissions).
        """
        target = self.folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while os.path.lexists(target):
            target = self.folder / f"{rel}.{n}"
            n += 1
        os.rename(self.root / rel, target)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with (self.folder / LOG_NAME).open("a", encoding="utf-8") as log:
            log.write(f"{stamp}\t{rel}\t{target.relative_to(self.folder).as_posix()}\t{reason}\n")
        return target
