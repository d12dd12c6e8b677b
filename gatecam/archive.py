"""What one gatecam process works on, opened once: the database, the image store, the source.

The CLI, the scheduler and the web app all take an ``Archive`` from ``open_archive``, so
the settings are turned into a database, a store and a camera source in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Self

from gatecam.database.engine import Database
from gatecam.database.migrate import prepare, require_current
from gatecam.settings import DownloadConfig
from gatecam.sources import build_source
from gatecam.sources.base import Source
from gatecam.storage import UpkeepStore, open_store


@dataclass
class Archive:
    """The database and the image store of one archive, and the source that feeds it.

    ``source`` is None for an archive opened only to be read.
    """

    db: Database
    store: UpkeepStore
    source: Source | None = None

    def close(self) -> None:
        """Leave the store's writers and close the database connections."""
        try:
            self.store.close()
        finally:
            self.db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_source(settings: DownloadConfig) -> Source:
    """The camera site the settings name (``GATECAM_SITE``), from the site registry."""
    return build_source(settings)


def configured_store(settings: DownloadConfig) -> UpkeepStore:
    """The image store the settings name; nothing is created or contacted yet."""
    return open_store(
        settings.storage_url, settings.download_dir, s3_endpoint_url=settings.s3_endpoint_url
    )


def open_archive(
    settings: DownloadConfig,
    *,
    write: bool = True,
    source: Source | None = None,
    store: UpkeepStore | None = None,
) -> Archive:
    """The archive the settings name, ready for use; bad settings raise before anything is kept.

    A writer (``write``) gets SQLite created and upgraded in place (a PostgreSQL server must
    be at the latest schema: `gatecam db upgrade`), its store opened as a writer (a folder
    created and locked, a bucket checked) and the camera source. A reader gets a database
    that must exist at the latest schema and a store that is neither created nor contacted.
    ``source`` and ``store`` replace the configured ones (tests, other sites).
    """
    store = store or configured_store(settings)
    # An unknown site is a setting to fix: refused before a database file is created.
    source = (source or open_source(settings)) if write else None
    db = Database(settings.database_url, create=write)
    try:
        if not write:
            require_current(db)
            return Archive(db, store)
        # Fail now, not at the first tick: these are settings to fix.
        prepare(db)
        store.open()
    except BaseException:
        db.dispose()
        raise
    return Archive(db, store, source)
