"""Copy image objects from one store to another (a folder into a bucket), several at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from gatecam.errors import InputError
from gatecam.settings import DownloadConfig
from gatecam.storage import open_store
from gatecam.storage.base import ImageStore

logger = logging.getLogger(__name__)

# Puts to a bucket wait on the network, not the CPU: as many in flight as the downloader uses.
WORKERS = 8


@dataclass
class TransferReport:
    """Keys copied, already present with their size, and absent from the source."""

    copied: int = 0
    present: int = 0
    missing: list[str] = field(default_factory=list)


def copy_objects(
    source: ImageStore, target: ImageStore, items: Iterable[tuple[str, int | None]]
) -> TransferReport:
    """Copy each ``(key, size)`` the target lacks; a key already there at that size is kept.

    A copy interrupted and run again so skips what arrived; a key missing from the source is
    reported, not fatal: its row stays and `gatecam verify` names it.
    """
    report = TransferReport()

    def _one(item: tuple[str, int | None]) -> str:
        key, size = item
        if size is not None and target.size(key) == size:
            return "present"
        try:
            data = source.get(key)
        except FileNotFoundError:
            return "missing"
        target.put(key, data)
        return "copied"

    pending = list(items)
    with ThreadPoolExecutor(WORKERS) as pool:
        for (key, _size), outcome in zip(pending, pool.map(_one, pending), strict=True):
            if outcome == "copied":
                report.copied += 1
            elif outcome == "present":
                report.present += 1
            else:
                report.missing.append(key)
    return report


def file_copier(
    settings: DownloadConfig, storage_url: str
) -> Callable[[Table, Sequence[Mapping[str, Any]]], None]:
    """For a database copy: before each batch of image rows lands in the target, put their
    files from the configured store into the bucket ``storage_url``.

    Both stores are checked first, so a wrong bucket or an unmounted folder stops the copy
    before a row is written.
    """
    if storage_url == settings.storage_url:
        raise InputError("--storage-url: the images are already there; leave it out")
    source = open_store(
        settings.storage_url, settings.download_dir, s3_endpoint_url=settings.s3_endpoint_url
    )
    if not storage_url.startswith("s3://"):
        raise InputError(f"--storage-url: s3://bucket/prefix expected, not {storage_url!r}")
    target = open_store(
        storage_url, settings.download_dir, s3_endpoint_url=settings.s3_endpoint_url
    )
    if not source.exists():
        where = source.describe()
        raise InputError(f"--download-dir / GATECAM_DOWNLOAD_DIR: {where} does not exist")
    target.check()

    def _copy(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if table.name != "images":
            return
        report = copy_objects(source, target, ((r["filepath"], r["file_size"]) for r in rows))
        for key in report.missing:
            logger.warning("%s: not in %s, its row is copied alone", key, source.describe())

    return _copy
