"""Reads for looking through the archive: streams, days, nearest images, pages of rows, health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import DownloadRun, Image, StreamCounter

# The largest id a BIGINT holds: a larger one in a URL is simply not an image.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Stream:
    """One archived stream with its lifetime counters."""

    terminal: str
    stream: str
    total: int
    last_download: datetime | None


@dataclass(frozen=True)
class Shot:
    """One image row: its id, capture time, and whether verify found its file gone."""

    id: int
    timestamp: datetime
    missing: bool = False
    # Names the bytes: image URLs carry it, as an id may name another image after a restore.
    sha256: str | None = None


def streams(session: Session, terminal: str | None = None) -> list[Stream]:
    """Every stream that has counters (any image or run), by terminal and name."""
    query = select(StreamCounter).order_by(StreamCounter.terminal, StreamCounter.camera_id)
    if terminal is not None:
        query = query.where(StreamCounter.terminal == terminal)
    return [
        Stream(c.terminal, c.camera_id, c.total, c.last_download) for c in session.scalars(query)
    ]


# One row the database sums up, built once: the web app asks for it on almost every request,
# and building the statement or reading each stream's row cost more than the read itself.
_FINGERPRINT = select(
    func.count(),
    func.sum(StreamCounter.total),
    func.sum(StreamCounter.total_runs),
    func.max(StreamCounter.last_download),
    func.max(StreamCounter.last_run_at),
    func.max(StreamCounter.last_error_at),
)


def fingerprint(db: Database) -> tuple[Any, ...]:
    """The state of the stream counters, which move whenever an image is stored, a run starts
    or ends, or images are pruned: unchanged state, unchanged pages."""
    return tuple(db.read_rows(_FINGERPRINT)[0])


def known(session: Session, terminal: str, stream: str) -> bool:
    return session.get(StreamCounter, (terminal, stream)) is not None


def stats_by_terminal(session: Session) -> dict[str, dict[str, Any]]:
    """``gatecam stats`` for every terminal that has counters."""
    names = session.scalars(select(StreamCounter.terminal).distinct())
    return {t: asdict(queries.get_stats(session, t)) for t in sorted(names)}


def newest(session: Session, terminal: str, stream: str) -> datetime | None:
    """The capture time of the stream's newest image (one step down the unique index)."""
    return session.scalar(
        select(func.max(Image.timestamp)).where(
            Image.terminal == terminal, Image.camera_id == stream
        )
    )


def archive_start(session: Session, terminal: str, stream: str) -> datetime | None:
    """When the archive of a stream began: its oldest image or its first run, if earlier.

    Before that moment an empty hour is not a gap, only time the archive never covered.
    Two single steps: the oldest image is the first entry of the stream's unique index, and
    the first run is kept on the stream's counters (min over download_runs reads every run).
    """
    oldest = session.scalar(
        select(func.min(Image.timestamp)).where(
            Image.terminal == terminal, Image.camera_id == stream
        )
    )
    first_run = session.scalar(
        select(StreamCounter.first_run_at).where(
            StreamCounter.terminal == terminal, StreamCounter.camera_id == stream
        )
    )
    found = [t for t in (oldest, first_run) if t is not None]
    return min(found) if found else None


def bucket_counts(
    session: Session, terminal: str, stream: str, edges: Sequence[datetime]
) -> list[int]:
    """Images in each [edges[n], edges[n + 1]), in one range scan of the unique index.

    The page's 14 days per stream: O(images in the window), the same at 10k or 10M images.
    The per-minute rollup cannot give them, as it counts images by when they were stored,
    not by capture time; the page that shows them is kept until the counters move.
    """
    if len(edges) < 2:
        return []
    # Each row gets the index of the first bucket whose end lies after it.
    bucket = case(*((Image.timestamp < end, n) for n, end in enumerate(edges[1:]))).label("n")
    rows = (
        select(bucket)
        .where(
            Image.terminal == terminal,
            Image.camera_id == stream,
            Image.timestamp >= edges[0],
            Image.timestamp < edges[-1],
        )
        .subquery()
    )
    # Grouped in an outer query: PostgreSQL does not see two CASEs with their own bound
    # parameters as the same expression in SELECT and GROUP BY.
    counts = session.execute(select(rows.c.n, func.count()).group_by(rows.c.n))
    found = {int(n): int(count) for n, count in counts if n is not None}
    return [found.get(n, 0) for n in range(len(edges) - 1)]


def shots_between(
    session: Session, terminal: str, stream: str, start: datetime, end: datetime
) -> list[Shot]:
    """The stream's images captured in [start, end), oldest first."""
    rows = session.execute(
        select(Image.id, Image.timestamp, Image.missing_since, Image.sha256)
        .where(
            Image.terminal == terminal,
            Image.camera_id == stream,
            Image.timestamp >= start,
            Image.timestamp < end,
        )
        .order_by(Image.timestamp)
    )
    return [Shot(row.id, row.timestamp, row.missing_since is not None, row.sha256) for row in rows]


def held_times(
    session: Session, terminal: str, stream: str, start: datetime, end: datetime
) -> list[datetime]:
    """Capture times in [start, end) of the images whose file is still held, oldest first."""
    return list(
        session.scalars(
            select(Image.timestamp)
            .where(
                Image.terminal == terminal,
                Image.camera_id == stream,
                Image.timestamp >= start,
                Image.timestamp < end,
                Image.missing_since.is_(None),
            )
            .order_by(Image.timestamp)
        )
    )


def _neighbour(
    session: Session, terminal: str, stream: str, where: ColumnElement[bool], *, older: bool
) -> Shot | None:
    order = Image.timestamp.desc() if older else Image.timestamp.asc()
    row = session.execute(
        select(Image.id, Image.timestamp, Image.sha256)
        .where(
            Image.terminal == terminal,
            Image.camera_id == stream,
            Image.missing_since.is_(None),
            where,
        )
        .order_by(order)
        .limit(1)
    ).first()
    return None if row is None else Shot(row.id, row.timestamp, sha256=row.sha256)


def shot_before(
    session: Session, terminal: str, stream: str, moment: datetime, *, inclusive: bool = True
) -> Shot | None:
    """The newest held image captured before ``moment`` (or at it, if ``inclusive``)."""
    where = Image.timestamp <= moment if inclusive else Image.timestamp < moment
    return _neighbour(session, terminal, stream, where, older=True)


def shot_after(session: Session, terminal: str, stream: str, moment: datetime) -> Shot | None:
    """The oldest held image captured after ``moment``."""
    return _neighbour(session, terminal, stream, Image.timestamp > moment, older=False)


def recent_runs(session: Session, limit: int = 10) -> list[DownloadRun]:
    """The newest download runs; ids grow with time, so the primary key orders them."""
    return list(session.scalars(select(DownloadRun).order_by(DownloadRun.id.desc()).limit(limit)))


def image(session: Session, image_id: int) -> Image | None:
    """The row of image ``image_id``, or None."""
    if not 0 < image_id <= MAX_ID:
        return None
    return session.get(Image, image_id)


def image_page_query(
    *,
    terminal: str | None = None,
    stream: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = 100,
) -> Select[Any]:
    """Up to ``limit`` rows in (timestamp, id) order, from just after the key ``after``:
    keyset paging, one index range however deep the reader is.

    Plain rows with the columns of Image, not ORM objects: a page is read and sent, never
    changed, and building 100 tracked objects cost more than the query itself.

    With a stream, the unique index (terminal, camera_id, timestamp) serves the order; across
    streams, ix_images_timestamp_id (timestamp, id) does, so a page reads ``limit`` index
    entries instead of sorting every row of the archive.
    """
    query = select(*Image.__table__.columns).where(Image.timestamp.is_not(None))
    if terminal is not None:
        query = query.where(Image.terminal == terminal)
    if stream is not None:
        query = query.where(Image.camera_id == stream)
    if start is not None:
        query = query.where(Image.timestamp >= start)
    if end is not None:
        query = query.where(Image.timestamp < end)
    if after is not None:
        ts, last_id = after
        # The plain ">=" gives the planner the start of the index range; the OR alone
        # would have it scan from the first entry and filter.
        query = query.where(
            Image.timestamp >= ts,
            or_(Image.timestamp > ts, and_(Image.timestamp == ts, Image.id > last_id)),
        )
    return query.order_by(Image.timestamp, Image.id).limit(limit)


def last_successes(session: Session) -> dict[tuple[str, str], datetime | None]:
    """Per stream that has any run: when its newest successful run ended (None if never).

    Read from the stream counters, which finish_run moves in the run's own transaction: one
    row per stream, where the maximum over download_runs would read every run ever made.
    """
    rows = session.execute(
        select(StreamCounter.terminal, StreamCounter.camera_id, StreamCounter.last_success_at)
        .where(StreamCounter.last_run_at.is_not(None))
        .order_by(StreamCounter.terminal, StreamCounter.camera_id)
    )
    return {(terminal, stream): last for terminal, stream, last in rows}
