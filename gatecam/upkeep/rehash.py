"""`gatecam verify --rehash`: measure the camera health figures of images archived before."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gatecam.camerahealth import Figures, measure
from gatecam.database import frames
from gatecam.database.engine import Database
from gatecam.storage import ImageStore

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# Reading files or objects waits on I/O and Pillow decodes without the GIL.
WORKERS = 4


@dataclass
class RehashReport:
    """How many rows got figures, and how many could not be read or decoded."""

    measured: int = 0
    unreadable: int = 0

    def line(self) -> str:
        skipped = f" ({self.unreadable} unreadable, left without)" if self.unreadable else ""
        return f"camera health figures computed for {self.measured} images{skipped}"


def rehash(
    db: Database,
    store: ImageStore,
    *,
    terminal: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> RehashReport:
    """Give every held row without figures its figures, ``batch_size`` rows per transaction.

    Each batch is committed on its own, so an interrupted backfill keeps what it did and the
    next one carries on with the rows still unmeasured.
    """
    report = RehashReport()
    last_id = 0

    def one(row: tuple[int, str]) -> tuple[int, Figures | None]:
        image_id, key = row
        try:
            return image_id, measure(store.get(key))
        except (OSError, ValueError) as exc:
            logger.warning("rehash: cannot read %s: %s", key, exc)
            return image_id, None

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="gatecam-rehash") as pool:
        while True:
            with db.session_scope() as session:
                rows = frames.unmeasured(session, last_id, batch_size, terminal)
            if not rows:
                break
            last_id = rows[-1][0]
            results = list(pool.map(one, rows))
            measured = [(i, f) for i, f in results if f is not None]
            with db.session_scope() as session:
                frames.store_figures(session, measured)
            report.measured += len(measured)
            report.unreadable += len(rows) - len(measured)
            if progress is not None:
                progress(len(rows))
    return report
