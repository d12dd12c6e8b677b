"""Downloading: the CDN fetcher, the job that discovers, fetches and stores, and its scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gatecam.downloader.fetch import CdnDownloader, DownloadResult
from gatecam.settings import DownloadConfig
from gatecam.sources import build_source
from gatecam.sources.base import Source
from gatecam.storage import ImageStore

__all__ = ["CdnDownloader", "DownloadResult", "DrayDogDownloader"]


class DrayDogDownloader(CdnDownloader):
    """The public name of a CdnDownloader that defaults to Dray Dog's addresses."""

    def __init__(
        self, store: ImageStore | Path | str, *, source: Source | None = None, **options: Any
    ) -> None:
        super().__init__(
            store, source=source or build_source(DownloadConfig(site="draydog")), **options
        )
