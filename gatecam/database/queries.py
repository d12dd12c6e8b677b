"""The queries the scheduler and the CLI run, by name, from the modules of their tables.

``queries.insert_image`` and ``queries.get_stats`` are public API; each table keeps its own
statements (images, runs, stats), and this module gathers the names callers use.
"""

from gatecam.database.images import (
    delete_images,
    expired_images,
    held_timestamps,
    insert_image,
    insert_images,
    missing_timestamps,
)
from gatecam.database.runs import (
    RUN_STATUSES,
    ever_listed,
    finish_run,
    interrupt_stale_runs,
    last_covered_day,
    start_run,
)
from gatecam.database.stats import DownloadStats, get_stats, terminals
from gatecam.model import ImageRecord, chunked

__all__ = [
    "RUN_STATUSES",
    "DownloadStats",
    "ImageRecord",
    "chunked",
    "delete_images",
    "ever_listed",
    "expired_images",
    "finish_run",
    "get_stats",
    "held_timestamps",
    "insert_image",
    "insert_images",
    "interrupt_stale_runs",
    "last_covered_day",
    "missing_timestamps",
    "start_run",
    "terminals",
]
