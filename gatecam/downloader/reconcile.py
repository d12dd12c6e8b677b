"""Files and rows brought back in step: index what is on disk, expire what is too old.

The path of an archived file holds its terminal, stream and capture time, so a file written
while the database was unreachable (or just before a crash) can be given its row later
without downloading it again (issue 3, items 1 and 2).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.downloader.archive import IMAGE_SUFFIX, parse_image_path
from gatecam.sources.base import ImageRef

logger = logging.getLogger(__name__)


def day_folder(download_dir: Path, terminal: str, stream: str, day: date) -> Path:
    return download_dir / terminal / stream / day.isoformat()


def file_record(download_dir: Path, ref: ImageRef, path: Path) -> ImageRecord:
    """The row an archived file should have, with its size and sha256 read from disk."""
    data = path.read_bytes()
    return ImageRecord(
        terminal=ref.terminal,
        camera_id=ref.stream,
        filepath=path.relative_to(download_dir).as_posix(),
        timestamp=ref.timestamp,
        file_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def index_files(
    db: Database,
    download_dir: Path,
    terminal: str,
    stream: str,
    days: Iterable[date],
    *,
    batch_size: int = 100,
) -> int:
    """Give every archived file of these days that has no row its row; return how many."""
    files: dict[datetime, tuple[ImageRef, Path]] = {}
    for day in days:
        for path in day_folder(download_dir, terminal, stream, day).glob(f"*{IMAGE_SUFFIX}"):
            ref = parse_image_path(download_dir, path)
            if ref is not None:
                files[ref.timestamp] = (ref, path)
    if not files:
        return 0
    with db.session_scope() as session:
        unindexed = queries.missing_timestamps(session, terminal, stream, files)
        records = [file_record(download_dir, *files[ts]) for ts in unindexed]
        new = queries.insert_images(session, records, batch_size=batch_size)
    if records:
        logger.info("%s/%s: indexed %d archived files that had no row", terminal, stream, new)
    return new


def expire(db: Database, download_dir: Path, terminal: str, stream: str, before: datetime) -> int:
    """Delete the rows, then the files, of images captured before ``before``; return how many.

    Rows go first: a crash in between leaves files without rows in days no job lists again,
    never a row that points at nothing. Lifetime counters are not touched.
    """
    removed = 0
    while True:
        with db.session_scope() as session:
            expired = queries.expired_images(session, terminal, stream, before)
            queries.delete_images(session, [image_id for image_id, _ in expired])
        for _, filepath in expired:
            # Only archive files: a row saved with an absolute path points at someone else's.
            if not Path(filepath).is_absolute() and ".." not in Path(filepath).parts:
                with contextlib.suppress(FileNotFoundError):
                    (download_dir / filepath).unlink()
        removed += len(expired)
        if len(expired) < 1000:
            break
    # Whole days before the cutoff: images whose row was already gone, then the folder.
    stream_dir = download_dir / terminal / stream
    for folder in stream_dir.glob("????-??-??"):
        if folder.is_dir() and folder.name < before.date().isoformat():
            for leftover in folder.glob(f"*{IMAGE_SUFFIX}"):
                leftover.unlink()
            with contextlib.suppress(OSError):  # something else lives there: keep it
                folder.rmdir()
    if removed:
        logger.info(
            "%s/%s: retention removed %d images captured before %s",
            terminal,
            stream,
            removed,
            before.isoformat(),
        )
    return removed
