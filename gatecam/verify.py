"""`gatecam verify`: the image store checked against the database, and optionally repaired."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from gatecam.database import archive_queries, queries
from gatecam.database.archive_queries import StoredRow
from gatecam.database.engine import Database
from gatecam.database.models import utcnow
from gatecam.database.queries import ImageRecord, chunked
from gatecam.downloader.reconcile import NotAnImage, stored_record
from gatecam.errors import InputError
from gatecam.model import check_name
from gatecam.quarantine import Quarantine, scan
from gatecam.storage import ImageStore, LocalStore, parse_image_key
from gatecam.storage.base import is_complete_jpeg
from gatecam.storage.local import PART_SUFFIX
from gatecam.storage.s3 import S3Store
from gatecam.verify_report import VerifyReport

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Hashing and object reads are I/O bound (hashlib and sockets release the GIL), so a few
# threads read disks or the bucket in parallel.
HASH_WORKERS = 4
# A younger ``.part`` file may be a download in flight (write_atomic renames it when done);
# deleting it would fail that download, so only older ones count as leftovers of a crash.
PARTIAL_MIN_AGE = timedelta(minutes=10)
_OK, _MISSING, _MISMATCH = "ok", "missing", "mismatch"
# Rows given to non-images by gatecam before it checked what it indexed.
NOT_JPEG = "matches its row but is not a complete JPEG"

# What to do with a file whose bytes differ from its row: only report it (the default: the
# bytes may be the only copy), take its bytes as the row's, or move it aside.
Changed = Literal["report", "accept", "quarantine"]


def verify_archive(
    db: Database,
    store: ImageStore,
    *,
    terminal: str | None = None,
    repair: bool = False,
    changed: Changed = "report",
    checksums: bool = True,
    batch_size: int = BATCH_SIZE,
    partial_min_age: timedelta = PARTIAL_MIN_AGE,
) -> VerifyReport:
    """Compare the image rows with the images in ``store``; repair what is safe to.

    Rows are read ``batch_size`` at a time by id, each batch in its own short transaction, so
    a running downloader is never locked out while images are hashed. With ``repair``, orphan
    images that are complete JPEGs are indexed (they are archived images, so the lifetime
    counters move), rows whose image is gone get ``missing_since``, leftover ``.part`` files
    are deleted, and symlinks, special files and orphan non-JPEGs are moved into the
    quarantine (a folder beside the archive folder, a prefix beside the bucket's). Images
    that differ from their row are only reported, unless ``changed`` says to accept their
    bytes or to quarantine them.
    """
    if terminal is not None:
        check_name(terminal, "terminal")
    aside = _aside(store)
    if changed == "quarantine" and aside is None:
        raise InputError(f"{store.describe()} has no quarantine: use --accept-changed")
    # A wrong or unmounted directory, or an unreachable bucket, would make every row
    # "missing": refuse, do not mark.
    if isinstance(store, LocalStore):
        if not store.root.is_dir():
            raise InputError(f"download directory {store.root} does not exist")
    else:
        store.check()
    report = VerifyReport()
    now = utcnow()
    if isinstance(store, LocalStore):
        _check_partials(store.root, terminal, repair, now - partial_min_age, report)
        # Before the rows: a row naming a quarantined symlink is then seen as missing.
        _check_tree(store.root, terminal, aside if repair else None, report)
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        _check_rows(db, store, terminal, repair, checksums, batch_size, now, pool, report)
        if changed != "report":
            _settle_changed(db, store, changed, aside, now, report)
        _check_files(db, store, terminal, repair, aside, batch_size, pool, report)
    logger.info(
        "verify %s: %d rows, %d files, %d problems left",
        store.describe(),
        report.checked_rows,
        report.checked_files,
        report.problems,
    )
    return report


# -- temporary files ----------------------------------------------------------------------


def _check_partials(
    download_dir: Path, terminal: str | None, repair: bool, cutoff: datetime, report: VerifyReport
) -> None:
    root = download_dir / terminal if terminal else download_dir
    for part in sorted(root.rglob(f"*{PART_SUFFIX}")):
        try:
            info = part.lstat()
        except FileNotFoundError:
            continue  # renamed into place meanwhile: it was a download in flight
        if stat.S_ISDIR(info.st_mode) or info.st_mtime > cutoff.timestamp():
            continue
        report.partials.append(part)
        if repair:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            report.removed_partials += 1


# -- what is no image -------------------------------------------------------------------


@dataclass(frozen=True)
class _Aside:
    """How to move an entry out of the archive, and where it goes (for the summary)."""

    move: Callable[[str, str], object]
    where: str


def _aside(store: ImageStore) -> _Aside | None:
    if isinstance(store, LocalStore):
        folder = Quarantine(store.root)
        return _Aside(folder.move, f"{folder.folder} (reasons in quarantine.log)")
    if isinstance(store, S3Store):
        where = f"s3://{store.bucket}/{store.quarantine_root}"
        return _Aside(store.quarantine, f"{where} (reasons in gatecam-reason metadata)")
    return None


def _check_tree(
    root: Path, terminal: str | None, aside: _Aside | None, report: VerifyReport
) -> None:
    for finding in scan(root, terminal):
        if not finding.unsafe:
            report.strays.append((finding.path, finding.reason))
            continue
        report.unsafe.append((finding.path, finding.reason))
        if aside is not None and _move(aside, finding.path, finding.reason, report):
            report.quarantined_unsafe += 1


def _move(aside: _Aside, key: str, reason: str, report: VerifyReport) -> bool:
    try:
        aside.move(key, reason)
    except FileNotFoundError:
        return True  # gone meanwhile: nothing is left to move
    except OSError as exc:
        logger.warning("cannot quarantine %s: %s", key, exc.strerror or exc)
        return False
    report.quarantine = aside.where
    return True


# -- rows -> stored images ----------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_file(
    path: Path, size: int | None, sha256: str | None, checksums: bool
) -> tuple[str, str]:
    """(_OK | _MISSING | _MISMATCH, reason) for one row's local file."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return _MISMATCH, "not a regular file"
        if size is not None and info.st_size != size:
            return _MISMATCH, f"size is {info.st_size} bytes, the database says {size}"
        if checksums and sha256 is not None:
            actual = file_sha256(path)
            if actual != sha256.lower():
                return _MISMATCH, f"sha256 is {actual[:12]}..., the database says {sha256[:12]}..."
    except (FileNotFoundError, NotADirectoryError):
        return _MISSING, ""
    except OSError as exc:
        return _MISMATCH, f"cannot read: {exc.strerror or exc}"
    return _OK, ""


def _check_object(
    store: ImageStore, key: str, size: int | None, sha256: str | None, checksums: bool
) -> tuple[str, str]:
    """(_OK | _MISSING | _MISMATCH, reason) for one row's object in a remote store."""
    try:
        actual_size = store.size(key)
        if actual_size is None:
            return _MISSING, ""
        if size is not None and actual_size != size:
            return _MISMATCH, f"size is {actual_size} bytes, the database says {size}"
        if checksums and sha256 is not None:
            data = store.get(key)
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha256.lower():
                return _MISMATCH, f"sha256 is {actual[:12]}..., the database says {sha256[:12]}..."
            if not is_complete_jpeg(data):
                return _MISMATCH, NOT_JPEG
    except FileNotFoundError:
        return _MISSING, ""
    except OSError as exc:
        # An unreachable bucket is never "missing": that would mark every row.
        return _MISMATCH, f"cannot read: {exc.strerror or exc}"
    return _OK, ""


def _jpeg_ends(handle: io.BufferedReader, size: int) -> bool:
    """The ends ``is_complete_jpeg`` checks, read from an open file."""
    if size < 5:
        return False
    handle.seek(0)
    head = handle.read(3)
    handle.seek(size - 2)
    return is_complete_jpeg(head + handle.read(2))


def _check_local(
    store: LocalStore, key: str, size: int | None, sha256: str | None, checksums: bool
) -> tuple[str, str]:
    """(_OK | _MISSING | _MISMATCH, reason) for one image key in the folder, no symlinks."""
    try:
        with store.open(key) as handle:
            actual_size = os.fstat(handle.fileno()).st_size
            if size is not None and actual_size != size:
                return _MISMATCH, f"size is {actual_size} bytes, the database says {size}"
            if checksums and sha256 is not None:
                actual = hashlib.file_digest(handle, "sha256").hexdigest()
                if actual != sha256.lower():
                    return (
                        _MISMATCH,
                        f"sha256 is {actual[:12]}..., the database says {sha256[:12]}...",
                    )
            # Part of the full check (five bytes read); --no-checksums compares sizes only.
            if checksums and not _jpeg_ends(handle, actual_size):
                return _MISMATCH, NOT_JPEG
    except FileNotFoundError:
        return _MISSING, ""  # a symlink counts as no file: it is never served
    except OSError as exc:
        return _MISMATCH, f"cannot read: {exc.strerror or exc}"
    return _OK, ""


def _check_row(store: ImageStore, row: StoredRow, checksums: bool) -> tuple[str, str]:
    # A row marked missing is only checked for the image being back.
    checksums = checksums and row.missing_since is None
    if isinstance(store, LocalStore) and parse_image_key(row.filepath) is not None:
        return _check_local(store, row.filepath, row.file_size, row.sha256, checksums)
    if isinstance(store, LocalStore):
        # A row may name its file relative to the archive (as the downloader does) or, saved
        # through the plan's API, absolutely: both are plain files to check.
        path = Path(row.filepath)
        path = path if path.is_absolute() else store.root / path
        return _check_file(path, row.file_size, row.sha256, checksums)
    if parse_image_key(row.filepath) is None:
        return _MISMATCH, "not a key of this store (a path on some host's disk?)"
    return _check_object(store, row.filepath, row.file_size, row.sha256, checksums)


def _row_batches(db: Database, terminal: str | None, batch_size: int) -> Iterator[list[StoredRow]]:
    # Keyset pagination by id: each batch is a fresh short read, only the needed columns.
    last_id = 0
    while True:
        with db.read_scope() as session:
            rows = archive_queries.image_rows_after(
                session, last_id, terminal=terminal, limit=batch_size
            )
        if not rows:
            return
        last_id = rows[-1].id
        yield rows


def _check_rows(
    db: Database,
    store: ImageStore,
    terminal: str | None,
    repair: bool,
    checksums: bool,
    batch_size: int,
    now: datetime,
    pool: ThreadPoolExecutor,
    report: VerifyReport,
) -> None:
    for rows in _row_batches(db, terminal, batch_size):
        report.checked_rows += len(rows)
        verdicts = pool.map(lambda row: _check_row(store, row, checksums), rows)
        gone: list[int] = []
        back: list[int] = []
        for row, (verdict, reason) in zip(rows, verdicts, strict=True):
            if row.missing_since is not None:
                if verdict != _MISSING:
                    report.reappeared.append(row.filepath)
                    back.append(row.id)
            elif verdict == _MISSING:
                report.missing.append(row.filepath)
                gone.append(row.id)
            elif verdict == _MISMATCH:
                report.mismatches.append((row.filepath, reason))
                report.changed_rows.append((row, reason))
        if repair and (gone or back):
            with db.session_scope() as session:
                archive_queries.set_missing_since(session, gone, now)
                archive_queries.set_missing_since(session, back, None)
            report.marked_missing += len(gone)
            report.cleared_missing += len(back)


def _settle_changed(
    db: Database,
    store: ImageStore,
    changed: Changed,
    aside: _Aside | None,
    now: datetime,
    report: VerifyReport,
) -> None:
    """Accept the present bytes of each changed image as its row's, or move the file aside.

    Only image keys are settled (a row naming a path elsewhere on the host is left), and only
    a complete JPEG is accepted: anything else could never be shown.
    """
    for row, reason in report.changed_rows:
        if parse_image_key(row.filepath) is None or reason.startswith("cannot read"):
            continue
        if changed == "quarantine" and aside is not None:
            if _move(aside, row.filepath, f"differs from its row: {reason}", report):
                with db.session_scope() as session:
                    archive_queries.set_missing_since(session, [row.id], now)
                report.quarantined_changed += 1
            continue
        try:
            data = store.get(row.filepath)
        except OSError:
            continue
        if not is_complete_jpeg(data):
            note = "not a complete JPEG, so not accepted: use --quarantine-changed"
            index = report.mismatches.index((row.filepath, reason))
            report.mismatches[index] = (row.filepath, f"{reason}; {note}")
            continue
        with db.session_scope() as session:
            archive_queries.accept_bytes(
                session, row.id, len(data), hashlib.sha256(data).hexdigest()
            )
        report.accepted_changed += 1


# -- stored images -> rows ----------------------------------------------------------------


def _names(store: ImageStore, key: str) -> list[str]:
    """Every filepath a row naming this stored image may hold."""
    if isinstance(store, LocalStore):
        return [key, str((store.root / key).absolute())]
    return [key]


def _orphan_record(store: ImageStore, key: str) -> ImageRecord | str | None:
    """The row to give an orphan, why it gets none (not a complete JPEG), or None if gone."""
    try:
        return stored_record(store, key)
    except NotAnImage as exc:
        return str(exc)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing left to index


def _check_files(
    db: Database,
    store: ImageStore,
    terminal: str | None,
    repair: bool,
    aside: _Aside | None,
    batch_size: int,
    pool: ThreadPoolExecutor,
    report: VerifyReport,
) -> None:
    keys = store.keys(f"{terminal}/" if terminal else "")
    for batch in chunked(keys, batch_size):
        report.checked_files += len(batch)
        refs = {key: parse_image_key(key) for key in batch}
        with db.read_scope() as session:
            paths, triples = archive_queries.indexed(
                session,
                (name for key in batch for name in _names(store, key)),
                (ref for ref in refs.values() if ref is not None),
            )
        orphans = []
        for key in batch:
            ref = refs[key]
            if ref is None or not paths.isdisjoint(_names(store, key)):
                continue
            if (ref.terminal, ref.stream, ref.timestamp) not in triples:
                orphans.append(key)
        # Every orphan is read: only a complete JPEG may be indexed. Sizes and hashes are
        # computed before the transaction opens, to keep it short.
        records = list(pool.map(lambda key: _orphan_record(store, key), orphans))
        found: list[ImageRecord] = []
        for key, record in zip(orphans, records, strict=True):
            if isinstance(record, ImageRecord):
                report.orphans.append(key)
                found.append(record)
            elif isinstance(record, str):
                report.not_images.append((key, record))
                if repair and aside is not None and _move(aside, key, record, report):
                    report.quarantined_not_images += 1
        if not repair:
            continue
        if found:
            with db.session_scope() as session:
                queries.insert_images(session, found)
            # ON CONFLICT skips an image the downloader indexed meanwhile: it has a row anyway.
            report.repaired_orphans += len(found)
