"""`verify_archive` on real SQLite and PostgreSQL, over a local folder and S3 (moto server)."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gatecam.cli import main
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.errors import InputError, StorageError
from gatecam.model import ImageRef
from gatecam.storage import ImageStore, LocalStore, image_key
from gatecam.storage.s3 import S3Store
from gatecam.upkeep.verify import verify_archive
from tests.fixtures_db import sqlite_only
from tests.storage.s3server import put_raw

T0 = datetime(2025, 9, 1, 20, 8, 39, tzinfo=UTC)


def jpeg(n: int) -> bytes:
    return b"\xff\xd8\xff" + f"image {n}".encode() * 50 + b"\xff\xd9"


def archive(
    db: Database, store: ImageStore, n: int, *, terminal: str = "apm", stream: str = "in_gate"
) -> list[str]:
    """``n`` images stored and indexed the way the downloader does it; their keys."""
    keys, records = [], []
    for i in range(n):
        ref = ImageRef(terminal, stream, T0 + timedelta(minutes=10 * i))
        data = jpeg(i)
        key = image_key(ref)
        store.put(key, data)
        keys.append(key)
        records.append(
            ImageRecord(
                terminal=terminal,
                camera_id=stream,
                filepath=key,
                timestamp=ref.timestamp,
                file_size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    with db.session_scope() as session:
        queries.insert_images(session, records)
    return keys


def total(db: Database, terminal: str = "apm") -> int:
    with db.session_scope() as session:
        return int(queries.get_stats(session, terminal).total_downloaded)


def row(db: Database, filepath: str) -> Image:
    with db.session_scope() as session:
        return session.scalars(select(Image).where(Image.filepath == filepath)).one()


def age(path: Path, minutes: int) -> None:
    then = time.time() - minutes * 60
    os.utime(path, (then, then))


def test_a_consistent_archive_reports_nothing(database: Database, store: ImageStore) -> None:
    archive(database, store, 5)
    archive(database, store, 2, stream="out_gate")
    report = verify_archive(database, store, batch_size=2)
    assert report.consistent
    assert (report.checked_rows, report.checked_files) == (7, 7)
    assert not (report.missing or report.orphans or report.mismatches or report.partials)
    assert report.summary_lines()[-1] == "consistent"


def test_rows_naming_absolute_paths_are_checked_as_files(
    database: Database, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "images")
    archive(database, store, 2)
    # The plan's API also stores absolute paths, and rows saved without a checksum.
    elsewhere = tmp_path / "img1.jpg"
    elsewhere.write_bytes(jpeg(99))
    ref = ImageRef("apm", "out_gate", T0)
    store.put(image_key(ref), jpeg(1))
    with database.session_scope() as session:
        queries.insert_images(
            session,
            [
                ImageRecord("apm", "in_gate", str(elsewhere), file_size=len(jpeg(99))),
                # Matching by stream and time, so its file is not an orphan either.
                ImageRecord(
                    "apm", "out_gate", str(store.root / image_key(ref)), timestamp=ref.timestamp
                ),
            ],
        )
    report = verify_archive(database, store)
    assert report.consistent and (report.checked_rows, report.checked_files) == (4, 3)


def test_a_deleted_image_is_missing_and_repair_marks_its_row(
    database: Database, store: ImageStore
) -> None:
    keys = archive(database, store, 3)
    gone = keys[1]
    kept = store.get(gone)
    store.delete(gone)
    before = total(database)

    report = verify_archive(database, store)
    assert report.missing == [gone]
    assert not report.consistent
    assert row(database, gone).missing_since is None  # no repair, no change

    repaired = verify_archive(database, store, repair=True)
    assert repaired.marked_missing == 1 and repaired.consistent
    assert "rows whose file is gone: 1 (1 marked missing)" in repaired.summary_lines()
    assert row(database, gone).missing_since is not None
    assert total(database) == before  # the row stays a record; lifetime counts stand
    again = verify_archive(database, store)
    assert again.consistent and not again.missing

    # Restored from a backup: the mark is reported, and repair clears it.
    store.put(gone, kept)
    back = verify_archive(database, store)
    assert back.reappeared == [gone] and not back.consistent
    assert verify_archive(database, store, repair=True).cleared_missing == 1
    assert row(database, gone).missing_since is None
    assert verify_archive(database, store).consistent


def test_an_orphan_image_is_indexed_by_repair(database: Database, store: ImageStore) -> None:
    archive(database, store, 2)
    before = total(database)
    ref = ImageRef("apm", "out_gate", T0 + timedelta(hours=1, seconds=7))
    orphan = image_key(ref)
    data = jpeg(42)
    store.put(orphan, data)
    # Not images of the archive: wrong layout, so neither orphans nor rows.
    put_raw(store, "notes.jpg", b"x")
    put_raw(store, "apm/out_gate/2025-09-01/notes.txt", b"x")

    report = verify_archive(database, store)
    assert report.orphans == [orphan]
    assert "files with no row: 1" in report.summary_lines()
    assert not report.consistent

    repaired = verify_archive(database, store, repair=True)
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
    assert verify_archive(database, store).consistent


def test_changed_and_truncated_images_are_reported_and_left_alone(
    database: Database, store: ImageStore
) -> None:
    keys = archive(database, store, 3)
    changed = bytearray(store.get(keys[0]))
    changed[10] ^= 0xFF
    store.put(keys[0], bytes(changed))
    truncated = store.get(keys[2])[:100]
    store.put(keys[2], truncated)

    report = verify_archive(database, store, repair=True)
    reasons = dict(report.mismatches)
    assert set(reasons) == {keys[0], keys[2]}
    assert reasons[keys[0]].startswith("sha256 is ")
    assert "size is 100 bytes" in reasons[keys[2]]
    assert not report.consistent
    assert "NOT consistent: the differing files need a person" in report.summary_lines()[-1]
    # The stored bytes may be the only copy: repair changes neither image nor row.
    assert store.get(keys[0]) == bytes(changed) and store.get(keys[2]) == truncated
    assert not verify_archive(database, store).consistent

    # Without checksums only sizes are compared, so the same-size change goes unseen.
    quick = verify_archive(database, store, checksums=False)
    assert [key for key, _ in quick.mismatches] == [keys[2]]


def test_leftover_part_files_are_reported_and_removed_by_repair(
    database: Database, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path)
    keys = archive(database, store, 1)
    leftover = store.path(keys[0]).with_name(".201839.jpg.0123456789ab.part")
    leftover.write_bytes(b"\xff\xd8\xff half")
    age(leftover, 60)
    # A young one may be a download in flight: it is not touched.
    in_flight = store.path(keys[0]).with_name(".202839.jpg.ba9876543210.part")
    in_flight.write_bytes(b"\xff\xd8\xff")

    report = verify_archive(database, store)
    assert report.partials == [str(leftover)] and not report.consistent
    repaired = verify_archive(database, store, repair=True)
    assert repaired.removed_partials == 1 and repaired.consistent
    assert not leftover.exists() and in_flight.exists()
    assert verify_archive(database, store).consistent


def test_other_terminals_are_ignored_when_a_terminal_is_given(
    database: Database, store: ImageStore
) -> None:
    archive(database, store, 2)
    other = archive(database, store, 2, terminal="lbct")
    store.delete(other[0])
    store.put(image_key(ImageRef("lbct", "in_gate", T0 - timedelta(days=1))), jpeg(7))
    part = None
    if isinstance(store, LocalStore):
        part = store.path(other[1]).with_name(".000000.jpg.000000000000.part")
        part.write_bytes(b"")
        age(part, 60)

    report = verify_archive(database, store, terminal="apm", repair=True)
    assert report.consistent and (report.checked_rows, report.checked_files) == (2, 2)
    assert part is None or part.exists()
    with database.session_scope() as session:
        marked = session.scalars(select(Image).where(Image.missing_since.is_not(None))).all()
    assert marked == []
    everything = verify_archive(database, store)
    assert (len(everything.missing), len(everything.orphans)) == (1, 1)
    assert len(everything.partials) == (1 if part else 0)


def test_a_directory_that_does_not_exist_is_refused(database: Database, tmp_path: Path) -> None:
    archive(database, LocalStore(tmp_path / "images"), 1)
    with pytest.raises(InputError, match="does not exist"):
        verify_archive(database, LocalStore(tmp_path / "unmounted"), repair=True)
    assert row(database, "apm/in_gate/2025-09-01/200839.jpg").missing_since is None
    with pytest.raises(InputError, match="terminal"):
        verify_archive(database, LocalStore(tmp_path / "images"), terminal="../apm")


def test_a_bucket_that_cannot_be_reached_is_refused(
    database: Database,
    bucket: str,
    s3_endpoint: str,
    aws_environ: None,
) -> None:
    keys = archive(database, S3Store(bucket, endpoint_url=s3_endpoint), 1)
    with pytest.raises(StorageError, match="bucket 'elsewhere' does not exist"):
        verify_archive(database, S3Store("elsewhere", endpoint_url=s3_endpoint), repair=True)
    assert row(database, keys[0]).missing_since is None


def test_a_row_naming_a_host_path_is_reported_in_a_bucket(
    database: Database,
    bucket: str,
    s3_endpoint: str,
    aws_environ: None,
) -> None:
    with database.session_scope() as session:
        queries.insert_images(session, [ImageRecord("apm", "in_gate", "/srv/images/x.jpg")])
    report = verify_archive(database, S3Store(bucket, endpoint_url=s3_endpoint), repair=True)
    assert report.mismatches == [("/srv/images/x.jpg", report.mismatches[0][1])]
    assert "not a key of this store" in report.mismatches[0][1]
    assert row(database, "/srv/images/x.jpg").missing_since is None


def hostile_tree(root: Path, outside: Path) -> dict[str, str]:
    """What an attacker or an accident leaves in the archive folder; path -> what it is."""
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_bytes(b"root:$6$secret:19000:0:99999:7:::\n")
    (outside / "day").mkdir()
    (outside / "day" / "120000.jpg").write_bytes(jpeg(5))
    day = root / "apm" / "in_gate" / "2025-09-01"
    day.mkdir(parents=True, exist_ok=True)
    (day / "210000.jpg").symlink_to(secret)
    (root / "apm" / "in_gate" / "2025-09-02").symlink_to(outside / "day")
    (day / "220000.jpg").write_bytes(b"this is text, not a JPEG\n")
    (day / "230000.jpg").write_bytes(jpeg(6)[:200])
    (day / "notes.txt").write_bytes(b"camera moved on 1 September\n")
    os.mkfifo(day / "000000.jpg")  # a reader opening it would wait for ever
    return {
        "apm/in_gate/2025-09-01/000000.jpg": "not a regular file",
        "apm/in_gate/2025-09-01/210000.jpg": "symlink",
        "apm/in_gate/2025-09-02": "symlink",
        "apm/in_gate/2025-09-01/220000.jpg": "not a complete JPEG",
        "apm/in_gate/2025-09-01/230000.jpg": "not a complete JPEG",
        "apm/in_gate/2025-09-01/notes.txt": "not an image",
    }


@sqlite_only
def test_repair_indexes_only_real_images_and_quarantines_the_rest(
    database: Database, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "images")
    archive(database, store, 2)
    tree = hostile_tree(store.root, tmp_path / "outside")
    before = total(database)

    report = verify_archive(database, store)
    assert not report.consistent and report.orphans == []
    found = dict(report.unsafe + report.not_images + report.strays)
    assert set(found) == set(tree)
    for path, kind in tree.items():
        assert kind in found[path], (path, found[path])
    assert (
        "to " + str(tmp_path / "outside" / "shadow") in found["apm/in_gate/2025-09-01/210000.jpg"]
    )

    repaired = verify_archive(database, store, repair=True)
    assert repaired.consistent, repaired.summary_lines()
    assert repaired.repaired_orphans == 0 and total(database) == before
    with database.session_scope() as session:
        assert len(session.scalars(select(Image)).all()) == 2
    moved = {p for p, kind in tree.items() if kind != "not an image"}
    quarantine = tmp_path / "images.quarantine"
    for path in moved:
        assert not os.path.lexists(store.root / path) and os.path.lexists(quarantine / path)
    # The symlinks moved, not what they point at; the stray file is left where it was.
    assert (quarantine / "apm/in_gate/2025-09-01/210000.jpg").is_symlink()
    assert (tmp_path / "outside" / "shadow").is_file()
    assert (tmp_path / "outside" / "day" / "120000.jpg").is_file()
    assert (store.root / "apm/in_gate/2025-09-01/notes.txt").is_file()
    log = (quarantine / "quarantine.log").read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in log) == sorted(moved)
    assert any("not a complete JPEG (200 bytes)" in line for line in log)
    lines = repaired.summary_lines()
    assert f"quarantined into {quarantine} (reasons in quarantine.log)" in lines
    assert "foreign files, not gatecam's (left alone): 1" in lines

    again = verify_archive(database, store)
    assert again.consistent and [p for p, _ in again.strays] == ["apm/in_gate/2025-09-01/notes.txt"]


@sqlite_only
def test_a_row_naming_a_symlink_is_a_missing_file(database: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "images")
    keys = archive(database, store, 2)
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(store.get(keys[0]))
    store.path(keys[0]).unlink()
    store.path(keys[0]).symlink_to(outside)

    report = verify_archive(database, store)
    assert report.missing == [keys[0]] and [p for p, _ in report.unsafe] == [keys[0]]
    repaired = verify_archive(database, store, repair=True)
    assert repaired.consistent and repaired.quarantined_unsafe == 1
    assert row(database, keys[0]).missing_since is not None
    assert outside.is_file()


@sqlite_only
def test_changed_files_can_be_accepted_or_quarantined(database: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "images")
    keys = archive(database, store, 3)
    # Re-encoded by a person: still a complete JPEG, other bytes.
    recoded = jpeg(100)
    store.put(keys[0], recoded)
    store.put(keys[1], store.get(keys[1])[:50])  # cut short

    accepted = verify_archive(database, store, changed="accept")
    assert accepted.accepted_changed == 1 and not accepted.consistent
    assert row(database, keys[0]).sha256 == hashlib.sha256(recoded).hexdigest()
    assert row(database, keys[0]).file_size == len(recoded)
    left = dict(accepted.mismatches)[keys[1]]
    assert "not a complete JPEG, so not accepted: use --quarantine-changed" in left
    assert "--accept-changed" in accepted.summary_lines()[-1]

    settled = verify_archive(database, store, changed="quarantine")
    assert settled.quarantined_changed == 1 and settled.consistent
    assert not store.path(keys[1]).exists()
    assert (tmp_path / "images.quarantine" / keys[1]).read_bytes() == jpeg(1)[:50]
    assert row(database, keys[1]).missing_since is not None
    assert verify_archive(database, store).consistent


@sqlite_only
def test_the_verify_command_gets_back_to_exit_0(
    capsys: pytest.CaptureFixture[str], database: Database, database_url: str, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "images")
    archive(database, store, 2)
    hostile_tree(store.root, tmp_path / "outside")
    where = ["--database-url", database_url, "--download-dir", str(store.root)]

    def verify(*flags: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["verify", *where, *flags])
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    code, out, err = verify()
    assert code == 1 and "a symlink (to " in out
    assert err.endswith("gatecam: error: archive and database disagree: 5 problem(s) left\n")
    code, _, err = verify("--accept-changed", "--quarantine-changed")
    assert code == 2
    assert err == "gatecam: error: --accept-changed and --quarantine-changed: choose one\n"
    assert verify("--repair")[0] == 0
    assert verify()[0] == 0


@sqlite_only
def test_non_images_and_changed_files_are_quarantined_in_a_folder_or_a_bucket(
    database: Database, store: ImageStore
) -> None:
    keys = archive(database, store, 2)
    before = total(database)
    bad = image_key(ImageRef("apm", "in_gate", T0 + timedelta(hours=5)))
    store.put(bad, b"<html>error</html>")
    store.put(keys[1], jpeg(77))  # a complete JPEG, other bytes than its row's

    report = verify_archive(database, store)
    assert report.not_images == [(bad, "not a complete JPEG (18 bytes)")] and not report.orphans
    repaired = verify_archive(database, store, repair=True, changed="quarantine")
    assert (repaired.quarantined_not_images, repaired.quarantined_changed) == (1, 1)
    assert repaired.consistent and total(database) == before
    assert store.size(bad) is None and store.size(keys[1]) is None
    assert row(database, keys[1]).missing_since is not None
    if isinstance(store, S3Store):
        held = store._client.get_object(Bucket=store.bucket, Key=store.quarantine_root + bad)
        assert held["Body"].read() == b"<html>error</html>"
        assert held["Metadata"]["gatecam-reason"] == "not a complete JPEG (18 bytes)"
        assert store.quarantine_root == "archive/v1.quarantine/"
    else:
        assert isinstance(store, LocalStore)
        quarantine = store.root.with_name("images.quarantine")
        assert (quarantine / bad).read_bytes() == b"<html>error</html>"
        assert (quarantine / keys[1]).read_bytes() == jpeg(77)
    assert verify_archive(database, store).consistent


@sqlite_only
def test_a_non_image_indexed_by_an_earlier_gatecam_can_be_quarantined(
    database: Database, store: ImageStore
) -> None:
    archive(database, store, 1)
    text = b"root:x:0:0:root:/root:/bin/bash\n"
    key = image_key(ImageRef("apm", "in_gate", T0 + timedelta(hours=3)))
    store.put(key, text)
    # Its row, with its size and hash, as verify --repair gave one before it checked JPEGs.
    record = ImageRecord(
        "apm", "in_gate", key, T0 + timedelta(hours=3), len(text), hashlib.sha256(text).hexdigest()
    )
    with database.session_scope() as session:
        queries.insert_images(session, [record])

    report = verify_archive(database, store)
    assert report.mismatches == [(key, "matches its row but is not a complete JPEG")]
    assert verify_archive(database, store, changed="accept").accepted_changed == 0
    settled = verify_archive(database, store, changed="quarantine")
    assert settled.consistent and store.size(key) is None
    assert row(database, key).missing_since is not None


@sqlite_only
def test_entries_that_are_no_images_are_reported_and_left_in_a_folder_or_a_bucket(
    database: Database, store: ImageStore
) -> None:
    archive(database, store, 1)
    put_raw(store, "apm/in_gate/notes.txt", b"camera moved on 1 September\n")

    report = verify_archive(database, store, repair=True)
    reason = "not an image of the archive (its name is not an image key)"
    assert report.strays == [("apm/in_gate/notes.txt", reason)] and report.consistent
    assert "foreign files, not gatecam's (left alone): 1" in report.summary_lines()
    assert verify_archive(database, store).strays == report.strays  # left where it was
