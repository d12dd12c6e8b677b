"""The queries `gatecam verify` and reconciliation run: rows by id, marks, which keys have rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gatecam.database.models import Image
from gatecam.model import ImageRef


class StoredRow(NamedTuple):
    """What verify needs of one image row."""

    id: int
    filepath: str
    file_size: int | None
    sha256: str | None
    missing_since: datetime | None


def image_rows_after(
    session: Session, last_id: int, *, terminal: str | None = None, limit: int = 1000
) -> list[StoredRow]:
    """Up to ``limit`` image rows with an id above ``last_id``, by id (keyset pagination)."""
    stmt = (
        select(Image.id, Image.filepath, Image.file_size, Image.sha256, Image.missing_since)
        .where(Image.id > last_id)
        .order_by(Image.id)
        .limit(limit)
    )
    if terminal is not None:
        stmt = stmt.where(Image.terminal == terminal)
    return [StoredRow(*row) for row in session.execute(stmt)]


def set_missing_since(session: Session, ids: Sequence[int], value: datetime | None) -> None:
    """Mark these rows' files as gone since ``value``, or (None) as present again."""
    if ids:
        session.execute(
            update(Image)
            .where(Image.id.in_(ids))
            .values(missing_since=value)
            .execution_options(synchronize_session=False)
        )


def indexed(
    session: Session, filepaths: Iterable[str], refs: Iterable[ImageRef]
) -> tuple[set[str], set[tuple[str, str, datetime]]]:
    """Which of ``filepaths`` some row names, and which of ``refs`` some row holds."""
    names = list(set(filepaths))
    paths = set(session.scalars(select(Image.filepath).where(Image.filepath.in_(names))))
    by_stream: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)
    for ref in refs:
        by_stream[ref.terminal, ref.stream].append(ref.timestamp)
    triples: set[tuple[str, str, datetime]] = set()
    for (terminal, stream), stamps in by_stream.items():
        held = session.scalars(
            select(Image.timestamp).where(
                Image.terminal == terminal, Image.camera_id == stream, Image.timestamp.in_(stamps)
            )
        )
        triples.update((terminal, stream, ts) for ts in held if ts is not None)
    return paths, triples


def accept_bytes(session: Session, image_id: int, file_size: int, sha256: str) -> None:
    """Take the stored file's present size and hash as the row's (a person checked them)."""
    session.execute(
        update(Image)
        .where(Image.id == image_id)
        .values(file_size=file_size, sha256=sha256, missing_since=None)
        .execution_options(synchronize_session=False)
    )
