"""The statistics `gatecam stats` prints, read from the database as one typed value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gatecam.database import queries


@dataclass
class DownloadStats:
    """Statistics as stored in the database (never kept in memory or a JSON file)."""

    total_downloaded: int = 0
    downloads_by_stream: dict[str, int] = field(default_factory=dict)
    last_hour: int = 0
    last_24h: int = 0
    last_download: datetime | None = None
    total_runs: int = 0
    successful_runs: int = 0
    partial_runs: int = 0
    failed_runs: int = 0
    interrupted_runs: int = 0
    failed_downloads: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``last_download`` as ISO 8601 with its UTC offset."""
        data = dict(vars(self))
        data["downloads_by_stream"] = dict(self.downloads_by_stream)
        data["last_download"] = self.last_download.isoformat() if self.last_download else None
        return data


def get_stats(
    session: Session, terminal: str | None = None, *, now: datetime | None = None
) -> DownloadStats:
    """The statistics of ``terminal`` (None: every terminal), in a few indexed reads."""
    return DownloadStats(**queries.get_stats(session, terminal, now=now))
