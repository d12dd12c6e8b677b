"""`gatecam verify`: the image store checked against the database, and optionally repaired."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Literal

from gatecam.database import archive_queries, queries
from gatecam.database.archive_queries import StoredRow
from gatecam.database.engine import Database
from gatecam.database.models import utcnow
from gatecam.database.queries import ImageRecord, chunked
from gatecam.errors import InputError
from gatecam.model import check_name
from gatecam.storage import UpkeepStore, parse_image_key
from gatecam.storage.base import is_complete_jpeg
from gatecam.upkeep.reconcile import NotAnImage, stored_record
from gatecam.upkeep.report import VerifyReport

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
    store: UpkeepStore,
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
    # A wrong or unmounted directory, or an unreachable bucket, would make every row
    # "missing": refuse, do not mark.
    if not store.exists():
        raise InputError(f"download directory {store.describe()} does not exist")
    report = VerifyReport()
    now = utcnow()
    # Before the rows: a row naming a quarantined symlink is then seen as missing.
    _check_leftovers(store, terminal, repair, now - partial_min_age, report)
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        _check_rows(db, store, terminal, repair, checksums, batch_size, now, pool, report)
        if changed != "report":
            _settle_changed(db, store, changed, now, report)
        _check_files(db, store, terminal, repair, batch_size, pool, report)
    logger.info(
        "verify %s: %d rows, %d files, %d problems left",
        store.describe(),
        report.checked_rows,
        report.checked_files,
        report.problems,
    )
    return report


# -- what is no image -------------------------------------------------------------------


def _check_leftovers(
    store: UpkeepStore, terminal: str | None, repair: bool, cutoff: datetime, report: VerifyReport
) -> None:
    for leftover in store.leftovers(terminal, cutoff):
        if leftover.kind == "partial":
            report.partials.append(leftover.where)
            if repair:
                store.remove(leftover)
                report.removed_partials += 1
        elif leftover.kind == "unsafe":
            report.unsafe.append((leftover.name, leftover.reason))
            if repair and _move(store, leftover.name, leftover.reason, report):
                report.quarantined_unsafe += 1
        else:
            report.strays.append((leftover.name, leftover.reason))


def _move(store: UpkeepStore, name: str, reason: str, report: VerifyReport) -> bool:
    try:
        store.quarantine(name, reason)
    except FileNotFoundError:
        return True  # gone meanwhile: nothing is left to move
    except OSError as exc:
        logger.warning("cannot quarantine %s: %s", name, exc.strerror or exc)
        return False
    report.quarantine = store.quarantine_where()
    return True


# -- rows -> stored images ----------------------------------------------------------------


def _check_row(store: UpkeepStore, row: StoredRow, checksums: bool) -> tuple[str, str]:
    """(_OK | _MISSING | _MISMATCH, reason) for one row's stored image."""
    # A row marked missing is only checked for the image being back.
    checksums = checksums and row.missing_since is None
    try:
        found = store.fingerprint(row.filepath, digest=checksums)
    except (FileNotFoundError, NotADirectoryError):
        return _MISSING, ""  # a symlink counts as no file: it is never served
    except ValueError:
        return _MISMATCH, "not a key of this store (a path on some host's disk?)"
    except OSError as exc:
        # An unreachable bucket is never "missing": that would mark every row.
        return _MISMATCH, f"cannot read: {exc.strerror or exc}"
    if row.file_size is not None and found.size != row.file_size:
        return _MISMATCH, f"size is {found.size} bytes, the database says {row.file_size}"
    expected = row.sha256.lower() if row.sha256 else None
    if checksums and expected and found.sha256 and found.sha256 != expected:
        return (
            _MISMATCH,
            f"sha256 is {found.sha256[:12]}..., the database says {expected[:12]}...",
        )
    # Part of the full check (five bytes read locally); --no-checksums compares sizes only.
    if checksums and found.complete_jpeg is False:
        return _MISMATCH, NOT_JPEG
    return _OK, ""


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
    store: UpkeepStore,
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
    store: UpkeepStore,
    changed: Changed,
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
        if changed == "quarantine":
            if _move(store, row.filepath, f"differs from its row: {reason}", report):
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


def _orphan_record(store: UpkeepStore, key: str) -> ImageRecord | str | None:
    """The row to give an orphan, why it gets none (not a complete JPEG), or None if gone."""
    try:
        return stored_record(store, key)
    except NotAnImage as exc:
        return str(exc)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing left to index


def _check_files(
    db: Database,
    store: UpkeepStore,
    terminal: str | None,
    repair: bool,
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
                (name for key in batch for name in store.aliases(key)),
                (ref for ref in refs.values() if ref is not None),
            )
        orphans = []
        for key in batch:
            ref = refs[key]
            if ref is None or not paths.isdisjoint(store.aliases(key)):
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
                if repair and _move(store, key, record, report):
                    report.quarantined_not_images += 1
        if not repair:
            continue
        if found:
            with db.session_scope() as session:
                queries.insert_images(session, found)
            # ON CONFLICT skips an image the downloader indexed meanwhile: it has a row anyway.
            report.repaired_orphans += len(found)
