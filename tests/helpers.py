"""Helpers shared by the tests: paths in a local archive folder, a tiny file system."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gatecam.model import ImageRef
from gatecam.storage.base import IMAGE_SUFFIX, image_key, parse_image_key


def image_path(download_dir: Path, ref: ImageRef) -> Path:
    """Return where ``ref`` is stored under ``download_dir``."""
    return Path(download_dir) / image_key(ref)


def parse_image_path(download_dir: Path, path: Path) -> ImageRef | None:
    """Return the image ``path`` holds, or None if it is not exactly an ``image_path``."""
    try:
        relative = Path(path).relative_to(download_dir)
    except ValueError:
        return None
    return parse_image_key(relative.as_posix())


def iter_archive(download_dir: Path) -> Iterator[tuple[ImageRef, Path]]:
    """Yield every archived image file under ``download_dir``, in path order.

    Walks one day folder at a time, so a million files never sit in memory at once.
    """
    download_dir = Path(download_dir)
    for terminal in _subfolders(download_dir):
        for stream in _subfolders(terminal):
            for day in _subfolders(stream):
                for path in sorted(day.glob(f"*{IMAGE_SUFFIX}")):
                    ref = parse_image_path(download_dir, path)
                    if ref is not None and path.is_file():
                        yield ref, path


def _subfolders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(child for child in folder.iterdir() if child.is_dir())


@contextmanager
def mount_tmpfs(directory: Path, size: str = "1m") -> Iterator[Path]:
    """Mount a tiny tmpfs at ``directory`` so writes really hit ENOSPC; skip if not allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to simulate a full disk: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)
