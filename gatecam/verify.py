"""`gatecam verify`: the archive on disk checked against the database, and optionally repaired."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import stat
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image, utcnow
from gatecam.database.queries import ImageRecord, chunked
from gatecam.downloader.archive import PART_SUFFIX, iter_archive
from gatecam.downloader.reconcile import file_record
from gatecam.errors import InputError
from gatecam.sources.base import ImageRef, check_name

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Hashing is I/O bound and hashlib releases the GIL, so a few threads read disks in parallel.
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
    orphans: list[Path] = field(default_factory=list)
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
    download_dir: Path,
    *,
    terminal: str | None = None,
    repair: bool = False,
    checksums: bool = True,
    batch_size: int = BATCH_SIZE,
    partial_min_age: timedelta = PARTIAL_MIN_AGE,
) -> VerifyReport:
    """Compare the image rows with the files under ``download_dir``; repair what is safe to.

    Rows are read ``batch_size`` at a time by id, each batch in its own short transaction, so
    a running downloader is never locked out while files are hashed. With ``repair``, orphan
    files are indexed (they are archived images, so the lifetime counters move), rows whose
    file is gone get ``missing_since`` and leftover ``.part`` files are deleted; files that
    differ from their row are only reported.
    """
    download_dir = Path(download_dir)
    if terminal is not None:
        check_name(terminal, "terminal")
    # A wrong or unmounted directory would make every row "missing": refuse, do not mark.
    if not download_dir.is_dir():
        raise InputError(f"download directory {download_dir} does not exist")
    report = VerifyReport()
    now = utcnow()
    _check_partials(download_dir, terminal, repair, now - partial_min_age, report)
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        _check_rows(db, download_dir, terminal, repair, checksums, batch_size, now, pool, report)
        _check_files(db, download_dir, terminal, repair, batch_size, pool, report)
    logger.info(
        "verify %s: %d rows, %d files, %d problems left",
        download_dir,
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


# -- rows -> files ------------------------------------------------------------------------


def _resolve(download_dir: Path, filepath: str) -> Path:
    path = Path(filepath)
    return path if path.is_absolute() else download_dir / path


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_file(
    path: Path, size: int | None, sha256: str | None, checksums: bool
) -> tuple[str, str]:
    """(_OK | _MISSING | _MISMATCH, reason) for one row's file."""
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


def _row_batches(
    db: Database, terminal: str | None, batch_size: int
) -> Iterator[list[Row[int, str, int | None, str | None, datetime | None]]]:
    # Keyset pagination by id: each batch is a fresh short read, only the needed columns.
    last_id = 0
    while True:
        stmt = (
            select(Image.id, Image.filepath, Image.file_size, Image.sha256, Image.missing_since)
            .where(Image.id > last_id)
            .order_by(Image.id)
            .limit(batch_size)
        )
        if terminal is not None:
            stmt = stmt.where(Image.terminal == terminal)
        with db.session_scope() as session:
            rows = list(session.execute(stmt))
        if not rows:
            return
        last_id = rows[-1].id
        yield rows


def _check_rows(
    db: Database,
    download_dir: Path,
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
        verdicts = pool.map(
            lambda row: _check_file(
                _resolve(download_dir, row.filepath),
                row.file_size,
                row.sha256,
                # A row marked missing is only checked for the file being back.
                checksums and row.missing_since is None,
            ),
            rows,
        )
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
                _set_missing_since(session, gone, now)
                _set_missing_since(session, back, None)
            report.marked_missing += len(gone)
            report.cleared_missing += len(back)


def _set_missing_since(session: Session, ids: list[int], value: datetime | None) -> None:
    if ids:
        session.execute(
            update(Image)
            .where(Image.id.in_(ids))
            .values(missing_since=value)
            .execution_options(synchronize_session=False)
        )


# -- files -> rows ------------------------------------------------------------------------


def _indexed(
    session: Session, download_dir: Path, batch: list[tuple[ImageRef, Path]]
) -> tuple[set[str], set[tuple[str, str, datetime]]]:
    """The filepaths and (terminal, stream, timestamp) triples of ``batch`` that have rows."""
    # A row may name the file relative to the archive (as the downloader does) or absolutely.
    names = [path.relative_to(download_dir).as_posix() for _, path in batch]
    names += [str(path.absolute()) for _, path in batch]
    paths = set(session.scalars(select(Image.filepath).where(Image.filepath.in_(names))))
    by_stream: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)
    for ref, _ in batch:
        by_stream[ref.terminal, ref.stream].append(ref.timestamp)
    triples: set[tuple[str, str, datetime]] = set()
    for (term, stream), stamps in by_stream.items():
        held = session.scalars(
            select(Image.timestamp).where(
                Image.terminal == term, Image.camera_id == stream, Image.timestamp.in_(stamps)
            )
        )
        triples.update((term, stream, ts) for ts in held if ts is not None)
    return paths, triples


def _orphan_record(download_dir: Path, ref: ImageRef, path: Path) -> ImageRecord | None:
    try:
        return file_record(download_dir, ref, path)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing left to index


def _check_files(
    db: Database,
    download_dir: Path,
    terminal: str | None,
    repair: bool,
    batch_size: int,
    pool: ThreadPoolExecutor,
    report: VerifyReport,
) -> None:
    files = (
        (ref, path)
        for ref, path in iter_archive(download_dir)
        if terminal is None or ref.terminal == terminal
    )
    for batch in chunked(files, batch_size):
        report.checked_files += len(batch)
        with db.session_scope() as session:
            paths, triples = _indexed(session, download_dir, batch)
        orphans = [
            (ref, path)
            for ref, path in batch
            if path.relative_to(download_dir).as_posix() not in paths
            and str(path.absolute()) not in paths
            and (ref.terminal, ref.stream, ref.timestamp) not in triples
        ]
        if not repair:
            report.orphans += [path for _, path in orphans]
            continue
        # Sizes and hashes are computed before the transaction opens, to keep it short.
        records = list(pool.map(lambda item: _orphan_record(download_dir, *item), orphans))
        found = [record for record in records if record is not None]
        report.orphans += [path for (_, path), rec in zip(orphans, records, strict=True) if rec]
        if found:
            with db.session_scope() as session:
                queries.insert_images(session, found)
            # ON CONFLICT skips a file the downloader indexed meanwhile: it has a row either way.
            report.repaired_orphans += len(found)
