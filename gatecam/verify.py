"""`gatecam verify`: the image store checked against the database, and optionally repaired."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gatecam.database import archive_queries, queries
from gatecam.database.archive_queries import StoredRow
from gatecam.database.engine import Database
from gatecam.database.models import utcnow
from gatecam.database.queries import ImageRecord, chunked
from gatecam.downloader.archive import PART_SUFFIX
from gatecam.downloader.reconcile import stored_record
from gatecam.errors import InputError
from gatecam.sources.base import check_name
from gatecam.storage import ImageStore, LocalStore, parse_image_key

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Hashing and object reads are I/O bound (hashlib and sockets release the GIL), so a few
# threads read disks or the bucket in parallel.
HASH_WORKERS = 4
# A younger ``.part`` file may be a download in flight (write_atomic renames it when done);
# deleting it would fail that download, so only older ones count as leftovers of a crash.
PARTIAL_MIN_AGE = timedelta(minutes=10)
EXAMPLES = 10

_OK, _MISSING, _MISMATCH = "ok", "missing", "mismatch"


@dataclass
class VerifyReport:
    """What `gatecam verify` found, and what ``--repair`` did about it."""

    checked_rows: int = 0
    checked_files: int = 0
    missing: list[str] = field(default_factory=list)
    # Keys of stored images no row knows.
    orphans: list[str] = field(default_factory=list)
    mismatches: list[tuple[str, str]] = field(default_factory=list)
    partials: list[Path] = field(default_factory=list)
    # Rows marked missing earlier whose file is there again (restored from a backup, or
    # a disk that was not mounted): repair clears the mark, so marking is reversible.
    reappeared: list[str] = field(default_factory=list)
    repaired_orphans: int = 0
    marked_missing: int = 0
    removed_partials: int = 0
    cleared_missing: int = 0

    @property
    def problems(self) -> int:
        """How many problems are left unrepaired (mismatches are never repaired)."""
        unrepaired = (
            len(self.missing) - self.marked_missing,
            len(self.orphans) - self.repaired_orphans,
            len(self.partials) - self.removed_partials,
            len(self.reappeared) - self.cleared_missing,
            len(self.mismatches),
        )
        return sum(unrepaired)

    @property
    def consistent(self) -> bool:
        """True when nothing is left unrepaired."""
        return self.problems == 0

    def summary_lines(self) -> list[str]:
        """A few lines for people: counts, and up to ten example paths per problem."""
        lines = [f"checked {self.checked_rows} database rows and {self.checked_files} files"]
        problems: list[tuple[str, list[Any], int, str]] = [
            ("rows whose file is gone", self.missing, self.marked_missing, "marked missing"),
            ("files with no row", self.orphans, self.repaired_orphans, "indexed"),
            ("leftover .part files", self.partials, self.removed_partials, "removed"),
            (
                "files back for rows marked missing",
                self.reappeared,
                self.cleared_missing,
                "mark cleared",
            ),
        ]
        for title, items, repaired, verb in problems:
            if items:
                done = f" ({repaired} {verb})" if repaired else ""
                lines.append(f"{title}: {len(items)}{done}")
                lines += _examples(items)
        if self.mismatches:
            lines.append(
                f"files that differ from their row: {len(self.mismatches)} "
                "(left as they are: the bytes on disk may be the only copy)"
            )
            lines += _examples([f"{path}: {reason}" for path, reason in self.mismatches])
        if self.consistent:
            lines.append("consistent")
        elif self.mismatches and len(self.mismatches) == self.problems:
            lines.append("NOT consistent: the differing files need a person to look at them")
        else:
            lines.append("NOT consistent: run `gatecam verify --repair` to fix what can be fixed")
        return lines


def _examples(items: list[Any]) -> list[str]:
    lines = [f"  {item}" for item in items[:EXAMPLES]]
    if len(items) > EXAMPLES:
        lines.append(f"  ... and {len(items) - EXAMPLES} more")
    return lines


def verify_archive(
    db: Database,
    store: ImageStore,
    *,
    terminal: str | None = None,
    repair: bool = False,
    checksums: bool = True,
    batch_size: int = BATCH_SIZE,
    partial_min_age: timedelta = PARTIAL_MIN_AGE,
) -> VerifyReport:
    """Compare the image rows with the images in ``store``; repair what is safe to.

    Rows are read ``batch_size`` at a time by id, each batch in its own short transaction, so
    a running downloader is never locked out while images are hashed. With ``repair``, orphan
    images are indexed (they are archived images, so the lifetime counters move), rows whose
    image is gone get ``missing_since`` and leftover ``.part`` files (local folder only) are
    deleted; images that differ from their row are only reported.
    """
    if terminal is not None:
        check_name(terminal, "terminal")
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
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        _check_rows(db, store, terminal, repair, checksums, batch_size, now, pool, report)
        _check_files(db, store, terminal, repair, batch_size, pool, report)
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
            actual = hashlib.sha256(store.get(key)).hexdigest()
            if actual != sha256.lower():
                return _MISMATCH, f"sha256 is {actual[:12]}..., the database says {sha256[:12]}..."
    except FileNotFoundError:
        return _MISSING, ""
    except OSError as exc:
        # An unreachable bucket is never "missing": that would mark every row.
        return _MISMATCH, f"cannot read: {exc.strerror or exc}"
    return _OK, ""


def _check_row(store: ImageStore, row: StoredRow, checksums: bool) -> tuple[str, str]:
    # A row marked missing is only checked for the image being back.
    checksums = checksums and row.missing_since is None
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
        if repair and (gone or back):
            with db.session_scope() as session:
                archive_queries.set_missing_since(session, gone, now)
                archive_queries.set_missing_since(session, back, None)
            report.marked_missing += len(gone)
            report.cleared_missing += len(back)


# -- stored images -> rows ----------------------------------------------------------------


def _names(store: ImageStore, key: str) -> list[str]:
    """Every filepath a row naming this stored image may hold."""
    if isinstance(store, LocalStore):
        return [key, str((store.root / key).absolute())]
    return [key]


def _orphan_record(store: ImageStore, key: str) -> ImageRecord | None:
    try:
        return stored_record(store, key)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing left to index


def _check_files(
    db: Database,
    store: ImageStore,
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
        if not repair:
            report.orphans += orphans
            continue
        # Sizes and hashes are computed before the transaction opens, to keep it short.
        records = list(pool.map(lambda key: _orphan_record(store, key), orphans))
        found = [record for record in records if record is not None]
        report.orphans += [key for key, rec in zip(orphans, records, strict=True) if rec]
        if found:
            with db.session_scope() as session:
                queries.insert_images(session, found)
            # ON CONFLICT skips an image the downloader indexed meanwhile: it has a row anyway.
            report.repaired_orphans += len(found)
