"""Copy image objects from one store to another (a folder into a bucket), several at a time."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gatecam.storage.base import ImageStore

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
