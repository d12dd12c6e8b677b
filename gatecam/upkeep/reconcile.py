"""Stored images and rows brought back in step: index what is stored, expire what is too old.

The key of a stored image holds its terminal, stream and capture time, so an image stored
while the database was unreachable (or just before a crash) can be given its row later
without downloading it again. Works on any ImageStore. Only complete JPEGs are indexed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import date, datetime

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.errors import StorageError
from gatecam.storage import ImageStore, parse_image_key
from gatecam.storage.base import day_prefix, is_complete_jpeg

logger = logging.getLogger(__name__)

# Rows expired per transaction; a full batch means there may be more.
EXPIRE_BATCH = 1000


class NotAnImage(ValueError):
    """Stored bytes that fail the downloader's complete-JPEG check: never given a row."""


def stored_record(store: ImageStore, key: str) -> ImageRecord:
    """The row a stored image should have, with size and sha256 of its bytes.

    Raises FileNotFoundError if the key holds nothing, NotAnImage if its bytes are not a
    complete JPEG (the check every download passes), ValueError if it is not an image key.
    """
    ref = parse_image_key(key)
    if ref is None:
        raise ValueError(f"not an image key: {key!r}")
    data = store.get(key)
    if not is_complete_jpeg(data):
        raise NotAnImage(f"not a complete JPEG ({len(data)} bytes)")
    return ImageRecord(
        terminal=ref.terminal,
        camera_id=ref.stream,
        filepath=key,
        timestamp=ref.timestamp,
        file_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def index_files(
    db: Database,
    store: ImageStore,
    terminal: str,
    stream: str,
    days: Iterable[date],
    *,
    batch_size: int = 100,
) -> int:
    """Give every stored image of these days that has no row its row; return how many.

    Raises StorageError (one line) if the store cannot be listed or read.
    """
    keys: dict[datetime, str] = {}
    for day in days:
        for key in store.keys(day_prefix(terminal, stream, day)):
            ref = parse_image_key(key)
            if ref is not None:
                keys[ref.timestamp] = key
    if not keys:
        return 0
    with db.session_scope() as session:
        unindexed = queries.missing_timestamps(session, terminal, stream, keys)
    # The bytes are read between two short transactions: on object storage that takes a
    # round trip per image, and no lock should be held meanwhile. ON CONFLICT settles a race.
    records = []
    for ts in unindexed:
        try:
            records.append(stored_record(store, keys[ts]))
        except FileNotFoundError:
            continue  # expired or deleted meanwhile
        except NotAnImage as exc:
            # Left for `gatecam verify` to report and quarantine; never served as an image.
            logger.warning("%s: not indexed: %s", keys[ts], exc)
            continue
        except OSError as exc:
            raise _store_error(store, "read", keys[ts], exc) from None
    if not records:
        return 0
    with db.session_scope() as session:
        new = queries.insert_images(session, records, batch_size=batch_size)
    logger.info("%s/%s: indexed %d stored images that had no row", terminal, stream, new)
    return new


def expire(db: Database, store: ImageStore, terminal: str, stream: str, before: datetime) -> int:
    """Delete the rows, then the stored images, captured before ``before``; return how many.

    Rows go first: a crash or a store error in between leaves images without rows in days no
    job lists again (the sweep below removes them next time), never a row that points at
    nothing. Store failures raise StorageError (one line). Lifetime
    counters are not touched. Only image keys are deleted: a row naming an absolute path or
    one with ``..`` (rows saved through the Python API) never deletes anything.
    """
    removed = 0
    while True:
        with db.session_scope() as session:
            expired = queries.expired_images(session, terminal, stream, before, limit=EXPIRE_BATCH)
            queries.delete_images(session, [image_id for image_id, _ in expired])
        for _, filepath in expired:
            if parse_image_key(filepath) is not None:
                _delete(store, filepath)
        removed += len(expired)
        if len(expired) < EXPIRE_BATCH:
            break
    _sweep_old_days(store, terminal, stream, before.date())
    if removed:
        logger.info(
            "%s/%s: retention removed %d images captured before %s",
            terminal,
            stream,
            removed,
            before.isoformat(),
        )
    return removed


def _store_error(store: ImageStore, action: str, key: str, exc: OSError) -> StorageError:
    # One line the job records as its error, like a listing failure, instead of a traceback.
    return StorageError(f"cannot {action} {key} in {store.describe()}: {exc.strerror or exc}")


def _delete(store: ImageStore, key: str) -> None:
    try:
        store.delete(key)
    except OSError as exc:
        # The row is gone already; the sweep of old days removes the image next time.
        raise _store_error(store, "delete", key, exc) from None


def _sweep_old_days(store: ImageStore, terminal: str, stream: str, cutoff: date) -> None:
    """Delete images of whole days before ``cutoff`` whose rows were already gone."""
    first_kept = day_prefix(terminal, stream, cutoff)
    # Keys come sorted, days first: stop at the first kept day instead of listing them all.
    for key in store.keys(f"{terminal}/{stream}/"):
        if key >= first_kept:
            break
        _delete(store, key)
    # The cutoff's own day included: it is empty when all it held was captured before.
    store.prune(terminal, stream, cutoff)
