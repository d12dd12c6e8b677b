"""The browser and the HTTP pool of one pass, each opened on first use only."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from datetime import date

from gatecam.database.engine import Database
from gatecam.database.recipes import PassRecipes
from gatecam.downloader.fetch import CdnDownloader
from gatecam.model import Clock
from gatecam.sources.base import Lister, ListingTools, RecipeBook, Source
from gatecam.storage import ImageStore


class PassTools:
    """What the runs of one pass share: its lister, its downloader, closed with ``stack``."""

    def __init__(
        self,
        stack: ExitStack,
        source: Source,
        store: ImageStore,
        concurrency: int,
        db: Database,
        clock: Clock,
        stop: threading.Event,
    ):
        self._stop = stop
        self._stack, self._source, self._store, self._concurrency = (
            stack,
            source,
            store,
            concurrency,
        )
        self._db = db
        self._clock = clock
        self._lister: Lister | None = None
        self._downloader: CdnDownloader | None = None

    @property
    def lister(self) -> Lister:
        if self._lister is None:
            # The source's lister may borrow the download pool; Dray Dog's replays learned
            # requests over it and opens a browser only when a listing needs one. Each
            # terminal's recipe is read once for the pass, not once per stream.
            recipes: RecipeBook = PassRecipes(self._db)
            tools = ListingTools(
                recipes=recipes,
                client=lambda: self.downloader.client,
                workers=self._concurrency,
                clock=self._clock,
            )
            self._lister = self._stack.enter_context(self._source.lister(tools))
        return self._lister

    def prefetch(self, wanted: list[tuple[str, str, date]]) -> None:
        """Let the lister ask these listings ahead, all at once if it can."""
        self.lister.prefetch(wanted)

    @property
    def downloader(self) -> CdnDownloader:
        if self._downloader is None:
            self._downloader = self._stack.enter_context(
                CdnDownloader(
                    self._store,
                    source=self._source,
                    concurrency=self._concurrency,
                    clock=self._clock,
                    stop=self._stop,
                )
            )
        return self._downloader
