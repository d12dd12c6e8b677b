"""Files and rows brought back in step, on real databases and real files."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.downloader.archive import image_path, write_atomic
from gatecam.downloader.reconcile import expire, file_record, index_files
from gatecam.sources.base import ImageRef

NOW = datetime.now(UTC).replace(microsecond=0)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"


def archive(root: Path, *timestamps: datetime) -> list[tuple[ImageRef, Path]]:
    files = []
    for ts in timestamps:
        ref = ImageRef("apm", "in_gate", ts)
        path = image_path(root, ref)
        write_atomic(path, JPEG + ts.isoformat().encode() + b"\xff\xd9")
        files.append((ref, path))
    return files


def rows(database: Database) -> dict[datetime | None, Image]:
    with database.session_scope() as session:
        return {row.timestamp: row for row in session.scalars(select(Image))}


def test_files_without_rows_get_them_for_the_listed_days_only(
    database: Database, tmp_path: Path
) -> None:
    today, old = NOW - timedelta(minutes=30), NOW - timedelta(days=3)
    files = archive(tmp_path, today, today - timedelta(minutes=10), old)
    with database.session_scope() as session:
        queries.insert_images(session, [file_record(tmp_path, *files[1])])

    added = index_files(database, tmp_path, "apm", "in_gate", [today.date()])
    again = index_files(database, tmp_path, "apm", "in_gate", [today.date()])

    assert (added, again) == (1, 0)
    stored = rows(database)
    assert old not in stored  # its day was not listed
    row = stored[today]
    data = files[0][1].read_bytes()
    assert row.filepath == files[0][1].relative_to(tmp_path).as_posix()
    assert (row.file_size, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_retention_removes_old_rows_and_files_but_nothing_outside_the_archive(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    old, recent = NOW - timedelta(days=5), NOW - timedelta(hours=1)
    files = archive(root, old, recent)
    outside = tmp_path / "someone-elses.jpg"
    outside.write_bytes(JPEG)
    notes = files[0][1].parent / "notes.txt"
    notes.write_text("kept")
    with database.session_scope() as session:
        queries.insert_images(session, [file_record(root, *f) for f in files])
        queries.insert_images(
            session,
            [queries.ImageRecord("apm", "in_gate", str(outside), old - timedelta(hours=1), 1)],
        )

    removed = expire(database, root, "apm", "in_gate", NOW - timedelta(days=2))

    assert removed == 2
    assert set(rows(database)) == {recent}
    assert not files[0][1].exists() and files[1][1].exists()
    assert outside.exists()  # a row with an absolute path never deletes that file
    assert notes.exists()  # a day folder holding something else is left in place
    with database.session_scope() as session:
        assert queries.get_stats(session, "apm")["total_downloaded"] == 3
