"""Downloading: the CDN fetcher, the on-disk archive, and the scheduler that drives them."""

from gatecam.downloader.fetch import DownloadResult, DrayDogDownloader

__all__ = ["DownloadResult", "DrayDogDownloader"]
