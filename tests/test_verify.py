"""`verify_archive` on real files and real SQLite and PostgreSQL databases."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.downloader.archive import image_path, write_atomic
from gatecam.errors import InputError
from gatecam.sources.base import ImageRef
from gatecam.verify import verify_archive

T0 = datetime(2025, 9, 1, 20, 8, 39, tzinfo=UTC)


def jpeg(n: int) -> bytes:
    return b"\xff\xd8\xff" + f"image {n}".encode() * 50 + b"\xff\xd9"


def archive(
    db: Database, root: Path, n: int, *, terminal: str = "apm", stream: str = "in_gate"
) -> list[Path]:
    """``n`` images written and indexed the way the downloader does it; their paths."""
    paths, records = [], []
    for i in range(n):
        ref = ImageRef(terminal, stream, T0 + timedelta(minutes=10 * i))
        data = jpeg(i)
        path = image_path(root, ref)
        write_atomic(path, data)
        paths.append(path)
        records.append(
            ImageRecord(
                terminal=terminal,
                camera_id=stream,
                filepath=path.relative_to(root).as_posix(),
                timestamp=ref.timestamp,
                file_size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    with db.session_scope() as session:
        queries.insert_images(session, records)
    return paths


def total(db: Database, terminal: str = "apm") -> int:
    with db.session_scope() as session:
        return int(queries.get_stats(session, terminal)["total_downloaded"])


def row(db: Database, filepath: str) -> Image:
    with db.session_scope() as session:
        return session.scalars(select(Image).where(Image.filepath == filepath)).one()


def age(path: Path, minutes: int) -> None:
    then = time.time() - minutes * 60
    os.utime(path, (then, then))


def test_a_consistent_archive_reports_nothing(database: Database, tmp_path: Path) -> None:
    root = tmp_path / "images"
    archive(database, root, 5)
    archive(database, root, 2, stream="out_gate")
    # The plan's API also stores absolute paths, and rows saved without a checksum.
    elsewhere = tmp_path / "img1.jpg"
    elsewhere.write_bytes(jpeg(99))
    with database.session_scope() as session:
        queries.insert_images(
            session,
            [ImageRecord("apm", "in_gate", str(elsewhere), file_size=len(jpeg(99)))],
        )
    report = verify_archive(database, root, batch_size=2)
    assert report.consistent
    assert (report.checked_rows, report.checked_files) == (8, 7)
    assert not (report.missing or report.orphans or report.mismatches or report.partials)
    assert report.summary_lines()[-1] == "consistent"


def test_a_deleted_file_is_missing_and_repair_marks_its_row(
    database: Database, tmp_path: Path
) -> None:
    paths = archive(database, tmp_path, 3)
    gone = paths[1].relative_to(tmp_path).as_posix()
    kept = paths[1].read_bytes()
    paths[1].unlink()
    before = total(database)

    report = verify_archive(database, tmp_path)
    assert report.missing == [gone]
    assert not report.consistent
    assert row(database, gone).missing_since is None  # no repair, no change

    repaired = verify_archive(database, tmp_path, repair=True)
    assert repaired.marked_missing == 1 and repaired.consistent
    assert "rows whose file is gone: 1 (1 marked missing)" in repaired.summary_lines()
    assert row(database, gone).missing_since is not None
    assert total(database) == before  # the row stays a record; lifetime counts stand
    again = verify_archive(database, tmp_path)
    assert again.consistent and not again.missing

    # Restored from a backup: the mark is reported, and repair clears it.
    write_atomic(paths[1], kept)
    back = verify_archive(database, tmp_path)
    assert back.reappeared == [gone] and not back.consistent
    assert verify_archive(database, tmp_path, repair=True).cleared_missing == 1
    assert row(database, gone).missing_since is None
    assert verify_archive(database, tmp_path).consistent


def test_an_orphan_file_is_indexed_by_repair(database: Database, tmp_path: Path) -> None:
    archive(database, tmp_path, 2)
    before = total(database)
    ref = ImageRef("apm", "out_gate", T0 + timedelta(hours=1, seconds=7))
    orphan = image_path(tmp_path, ref)
    data = jpeg(42)
    write_atomic(orphan, data)
    # Not images of the archive: wrong layout, so neither orphans nor rows.
    (tmp_path / "notes.jpg").write_bytes(b"x")

    report = verify_archive(database, tmp_path)
    assert report.orphans == [orphan]
    assert "files with no row: 1" in report.summary_lines()
    assert not report.consistent

    repaired = verify_archive(database, tmp_path, repair=True)
    assert repaired.repaired_orphans == 1 and repaired.consistent
    stored = row(database, "apm/out_gate/2025-09-01/210846.jpg")
    assert (stored.terminal, stored.camera_id, stored.timestamp) == (
        "apm",
        "out_gate",
        ref.timestamp,
    )
    assert stored.file_size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.thumbnail is False
    assert total(database) == before + 1  # an archived image like any other
    assert verify_archive(database, tmp_path).consistent


def test_a_file_matching_a_row_by_stream_and_time_is_not_an_orphan(
    database: Database, tmp_path: Path
) -> None:
    ref = ImageRef("apm", "in_gate", T0)
    path = image_path(tmp_path, ref)
    write_atomic(path, jpeg(1))
    with database.session_scope() as session:
        queries.insert_images(
            session, [ImageRecord("apm", "in_gate", str(path), timestamp=ref.timestamp)]
        )
    report = verify_archive(database, tmp_path)
    assert report.consistent and report.checked_files == 1


def test_changed_and_truncated_files_are_reported_and_left_alone(
    database: Database, tmp_path: Path
) -> None:
    paths = archive(database, tmp_path, 3)
    changed = bytearray(paths[0].read_bytes())
    changed[10] ^= 0xFF
    paths[0].write_bytes(bytes(changed))
    truncated = paths[2].read_bytes()[:100]
    paths[2].write_bytes(truncated)

    report = verify_archive(database, tmp_path, repair=True)
    reasons = dict(report.mismatches)
    assert set(reasons) == {p.relative_to(tmp_path).as_posix() for p in (paths[0], paths[2])}
    assert reasons[paths[0].relative_to(tmp_path).as_posix()].startswith("sha256 is ")
    assert "size is 100 bytes" in reasons[paths[2].relative_to(tmp_path).as_posix()]
    assert not report.consistent
    assert "NOT consistent: the differing files need a person" in report.summary_lines()[-1]
    # The bytes on disk may be the only copy: repair changes neither file nor row.
    assert paths[0].read_bytes() == bytes(changed) and paths[2].read_bytes() == truncated
    assert not verify_archive(database, tmp_path).consistent

    # Without checksums only sizes are compared, so the same-size change goes unseen.
    quick = verify_archive(database, tmp_path, checksums=False)
    assert [path for path, _ in quick.mismatches] == [paths[2].relative_to(tmp_path).as_posix()]


def test_leftover_part_files_are_reported_and_removed_by_repair(
    database: Database, tmp_path: Path
) -> None:
    paths = archive(database, tmp_path, 1)
    leftover = paths[0].with_name(".201839.jpg.0123456789ab.part")
    leftover.write_bytes(b"\xff\xd8\xff half")
    age(leftover, 60)
    # A young one may be a download in flight: it is not touched.
    in_flight = paths[0].with_name(".202839.jpg.ba9876543210.part")
    in_flight.write_bytes(b"\xff\xd8\xff")

    report = verify_archive(database, tmp_path)
    assert report.partials == [leftover] and not report.consistent
    repaired = verify_archive(database, tmp_path, repair=True)
    assert repaired.removed_partials == 1 and repaired.consistent
    assert not leftover.exists() and in_flight.exists()
    assert verify_archive(database, tmp_path).consistent


def test_other_terminals_are_ignored_when_a_terminal_is_given(
    database: Database, tmp_path: Path
) -> None:
    archive(database, tmp_path, 2)
    other = archive(database, tmp_path, 2, terminal="lbct")
    other[0].unlink()
    write_atomic(image_path(tmp_path, ImageRef("lbct", "in_gate", T0 - timedelta(days=1))), b"x")
    part = other[1].with_name(".x.jpg.000000000000.part")
    part.write_bytes(b"")
    age(part, 60)

    report = verify_archive(database, tmp_path, terminal="apm", repair=True)
    assert report.consistent and (report.checked_rows, report.checked_files) == (2, 2)
    assert part.exists()
    with database.session_scope() as session:
        marked = session.scalars(select(Image).where(Image.missing_since.is_not(None))).all()
    assert marked == []
    everything = verify_archive(database, tmp_path)
    assert (len(everything.missing), len(everything.orphans), len(everything.partials)) == (1, 1, 1)


def test_a_directory_that_does_not_exist_is_refused(database: Database, tmp_path: Path) -> None:
    archive(database, tmp_path / "images", 1)
    with pytest.raises(InputError, match="does not exist"):
        verify_archive(database, tmp_path / "unmounted", repair=True)
    assert row(database, "apm/in_gate/2025-09-01/200839.jpg").missing_since is None
    with pytest.raises(InputError, match="terminal"):
        verify_archive(database, tmp_path / "images", terminal="../apm")
