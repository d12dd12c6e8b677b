"""Stored images and rows brought back in step, on real databases, a folder and S3 (moto)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.errors import StorageError
from gatecam.model import ImageRef
from gatecam.storage import ImageStore, LocalStore, image_key
from gatecam.storage.s3 import S3Store
from gatecam.upkeep.reconcile import expire, index_files, stored_record
from tests.fixtures_db import sqlite_only
from tests.helpers import free_port
from tests.storage.s3server import put_raw

NOW = datetime.now(UTC).replace(microsecond=0)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"


def archive(store: ImageStore, *timestamps: datetime, stream: str = "in_gate") -> list[str]:
    keys = []
    for ts in timestamps:
        key = image_key(ImageRef("apm", stream, ts))
        store.put(key, JPEG + ts.isoformat().encode() + b"\xff\xd9")
        keys.append(key)
    return keys


def rows(database: Database) -> dict[datetime | None, Image]:
    with database.session_scope() as session:
        return {row.timestamp: row for row in session.scalars(select(Image))}


def test_images_without_rows_get_them_for_the_listed_days_only(
    database: Database, store: ImageStore
) -> None:
    today, old = NOW - timedelta(minutes=30), NOW - timedelta(days=3)
    keys = archive(store, today, today - timedelta(minutes=10), old)
    archive(store, today, stream="out_gate")  # another stream: not this job's
    with database.session_scope() as session:
        queries.insert_images(session, [stored_record(store, keys[1])])

    added = index_files(database, store, "apm", "in_gate", [today.date()])
    again = index_files(database, store, "apm", "in_gate", [today.date()])

    assert (added, again) == (1, 0)
    stored = rows(database)
    assert set(stored) == {today, today - timedelta(minutes=10)}  # old's day was not listed
    row = stored[today]
    data = store.get(keys[0])
    assert (row.filepath, row.camera_id) == (keys[0], "in_gate")
    assert (row.file_size, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@sqlite_only
def test_only_complete_jpegs_are_indexed(database: Database, store: ImageStore) -> None:
    today = NOW - timedelta(minutes=30)
    good, text, cut = archive(
        store, today, today + timedelta(seconds=1), today + timedelta(seconds=2)
    )
    store.put(text, b"<html>not an image</html>")
    store.put(cut, JPEG[:50])

    assert index_files(database, store, "apm", "in_gate", [today.date()]) == 1
    assert [row.filepath for row in rows(database).values()] == [good]


def test_retention_removes_old_rows_and_images_and_nothing_else(
    database: Database, store: ImageStore
) -> None:
    old, recent = NOW - timedelta(days=5), NOW - timedelta(hours=1)
    keys = archive(store, old, recent)
    # Rowless leftovers of a crash between rows and objects, in an old day and a kept day.
    leftover_old = archive(store, old - timedelta(days=1))[0]
    kept_rowless = archive(store, recent - timedelta(minutes=5))[0]
    other_stream = archive(store, old, stream="out_gate")[0]
    with database.session_scope() as session:
        queries.insert_images(session, [stored_record(store, key) for key in keys])
        queries.insert_images(
            session,
            [
                # Rows saved through the plan's API: their paths are never followed.
                queries.ImageRecord("apm", "in_gate", "/etc/hosts", old - timedelta(hours=1), 1),
                queries.ImageRecord("apm", "in_gate", f"../{keys[1]}", old - timedelta(hours=2), 1),
            ],
        )

    removed = expire(database, store, "apm", "in_gate", NOW - timedelta(days=2))

    assert removed == 3
    assert set(rows(database)) == {recent}
    assert list(store.keys("apm/in_gate/")) == sorted([keys[1], kept_rowless])
    assert store.size(leftover_old) is None
    assert store.size(other_stream) is not None
    with database.session_scope() as session:
        assert queries.get_stats(session, "apm").total_downloaded == 4


def test_retention_keeps_a_day_folder_that_holds_something_else(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    store = LocalStore(root)
    old = NOW - timedelta(days=5)
    keys = archive(store, old, old - timedelta(days=1))
    outside = tmp_path / "someone-elses.jpg"
    outside.write_bytes(JPEG)
    put_raw(store, f"{keys[0].rsplit('/', 1)[0]}/notes.txt", b"kept")
    with database.session_scope() as session:
        queries.insert_images(session, [stored_record(store, keys[0])])
        queries.insert_images(
            session,
            [queries.ImageRecord("apm", "in_gate", str(outside), old - timedelta(hours=1), 1)],
        )

    assert expire(database, store, "apm", "in_gate", NOW - timedelta(days=2)) == 2

    assert outside.exists()  # a row with an absolute path never deletes that file
    assert (store.path(keys[0]).parent / "notes.txt").exists()
    assert not store.path(keys[1]).parent.exists()  # emptied day folders go
    assert list(store.keys()) == []


def test_an_unreachable_bucket_is_one_line_and_rows_still_expire(
    database: Database,
    aws_environ: None,
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3Store("archive", endpoint_url=endpoint)
    old = NOW - timedelta(days=5)
    key = image_key(ImageRef("apm", "in_gate", old))
    with database.session_scope() as session:
        queries.insert_images(
            session, [queries.ImageRecord("apm", "in_gate", key, old, 10, "0" * 64)]
        )

    with pytest.raises(StorageError, match="cannot reach the S3 endpoint") as listing:
        index_files(database, store, "apm", "in_gate", [NOW.date()])
    assert "\n" not in str(listing.value)
    with pytest.raises(StorageError, match=f"cannot delete {key} in s3://archive at ") as deleting:
        expire(database, store, "apm", "in_gate", NOW - timedelta(days=2))
    assert "\n" not in str(deleting.value)
    assert rows(database) == {}  # rows first: no row is left pointing at nothing


@sqlite_only
def test_retention_leaves_no_empty_day_folder(database: Database, tmp_path: Path) -> None:
    """The cutoff falls mid-day: that day's folder goes too once all it held has expired."""
    store = LocalStore(tmp_path / "archive")
    cutoff_day = NOW.date() - timedelta(days=2)
    before = datetime.combine(cutoff_day, time(12, 0), UTC)
    keys = archive(store, before - timedelta(days=1), before - timedelta(hours=6), NOW)
    with database.session_scope() as session:
        queries.insert_images(session, [stored_record(store, key) for key in keys])

    assert expire(database, store, "apm", "in_gate", before) == 2

    folders = [p for p in store.root.rglob("*") if p.is_dir()]
    assert [p for p in folders if not any(p.iterdir())] == []
    assert list(store.keys()) == [keys[2]]
