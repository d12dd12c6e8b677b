"""Reads for /healthz and the archive metrics: which streams are judged, and how they ran."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gatecam.database.models import DownloadRun, StreamCounter

# `gatecam web` without --streams judges the streams that ran this recently: a stream
# taken out of the configuration leaves health and metrics a day after its last run.
RECENT = timedelta(days=1)
# Statuses of a run that ended on its own (not running, not stopped by a signal).
_ENDED = ("success", "partial", "failed")


@dataclass(frozen=True)
class LatestRun:
    """The newest run of a stream that ended on its own."""

    status: str
    discovered: int
    downloaded: int
    error: str | None

    @property
    def stored_none(self) -> bool:
        """It listed images and stored none of those it lacked."""
        return self.status == "failed" and self.discovered > 0 and self.downloaded == 0


@dataclass(frozen=True)
class StreamHealth:
    """How one stream ran lately."""

    terminal: str
    stream: str
    last_success: datetime | None
    latest: LatestRun | None
    failed_last_hour: int


def judged_streams(
    session: Session, configured: Sequence[tuple[str, str]] | None, now: datetime
) -> list[tuple[str, str]]:
    """The configured streams, or without a configuration those that ran within RECENT."""
    if configured is not None:
        return sorted(set(configured))
    rows = session.execute(
        select(StreamCounter.terminal, StreamCounter.camera_id)
        .where(StreamCounter.last_run_at >= now - RECENT)
        .order_by(StreamCounter.terminal, StreamCounter.camera_id)
    )
    return [(terminal, stream) for terminal, stream in rows]


def newest_run(session: Session, terminal: str, stream: str, status: str) -> DownloadRun | None:
    """The newest run of a stream with this status."""
    # One step down the (terminal, camera_id, status, started_at) index.
    return session.scalars(
        select(DownloadRun)
        .where(
            DownloadRun.terminal == terminal,
            DownloadRun.camera_id == stream,
            DownloadRun.status == status,
        )
        .order_by(DownloadRun.started_at.desc(), DownloadRun.id.desc())
        .limit(1)
    ).first()


def stream_health(session: Session, terminal: str, stream: str, now: datetime) -> StreamHealth:
    """A few index seeks, however long the stream's history."""
    newest = {status: newest_run(session, terminal, stream, status) for status in _ENDED}
    success = newest["success"]
    ended = [run for run in newest.values() if run is not None]
    latest = max(ended, key=lambda run: (run.started_at, run.id), default=None)
    failed = session.scalar(
        select(func.coalesce(func.sum(DownloadRun.failed), 0)).where(
            DownloadRun.terminal == terminal,
            DownloadRun.camera_id == stream,
            # A successful run has no failed download.
            DownloadRun.status.in_(("partial", "failed", "interrupted")),
            DownloadRun.started_at >= now - timedelta(hours=1),
        )
    )
    return StreamHealth(
        terminal,
        stream,
        None if success is None else success.finished_at or success.started_at,
        None
        if latest is None
        else LatestRun(latest.status, latest.discovered, latest.downloaded, latest.error),
        int(failed or 0),
    )
