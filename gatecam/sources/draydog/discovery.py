"""Decides, per listing, between replaying the learned request and the browser.

- No recipe for the terminal: the browser lists the day and, if the page got the day's
  images as JSON, the request is learned, replayed at once, and kept only if the two agree.
- A recipe: replay it. A wrong answer (not 2xx save 404, not JSON or JSON it cannot read,
  over the size cap, an image off the CDN, a link off the recipe's origin) drops the
  recipe; that, an empty day (or 404) or a day the recipe cannot ask sends the listing to
  the browser in the same run, which learns again (an expired token is renewed this way).
  An empty day the browser confirms is believed for the terminal's other streams.
- A pass asks every replayable listing ahead, concurrently over the HTTP pool (prefetch).
- The first listing of each terminal in each UTC hour is checked: replay, then the browser;
  if they disagree the browser's listing is used, the recipe dropped and the cause logged.

The browser opens only when a listing needs it, so a tick served by replay launches none.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import httpx

from gatecam.errors import DiscoveryError
from gatecam.model import Clock, ImageRef, Recipe, utc_now
from gatecam.sources.base import Listing, RecipeBook
from gatecam.sources.draydog.replay import (
    Replayed,
    ReplayEmpty,
    Replayer,
    ReplayError,
    disagreement,
    learn,
)
from gatecam.sources.draydog.site import DrayDogSite

if TYPE_CHECKING:
    # Playwright is imported only once a listing needs the browser.
    from gatecam.sources.draydog.browser import CameraPageBrowser
    from gatecam.sources.draydog.trace import Trace

logger = logging.getLogger(__name__)

REPLAY = "replay"


def check_due(recipe: Recipe, now: datetime) -> bool:
    """The first listing of a terminal in each UTC hour checks replay against the browser."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return recipe.checked_at is None or recipe.checked_at < hour


class ReplayLister:
    """A Lister that replays learned requests and falls back to (and learns from) a browser."""

    def __init__(
        self,
        source: DrayDogSite,
        recipes: RecipeBook,
        *,
        browser: Callable[[], CameraPageBrowser],
        client: Callable[[], httpx.Client],
        clock: Clock = utc_now,
        workers: int = 8,
    ) -> None:
        self._source = source
        # Replayed listings asked ahead of the job's per-stream runs, concurrently.
        self._workers = workers
        self._ready: dict[tuple[str, str, date], tuple[Recipe, Replayed | ReplayError]] = {}
        # (terminal, day) the browser agreed had nothing, when replay said so for a stream.
        self._empty_days: set[tuple[str, date]] = set()
        self._recipes = recipes
        self._open_browser = browser
        self._open_client = client
        self._browser: CameraPageBrowser | None = None
        self._replayer: Replayer | None = None
        self._clock = clock
        self.learned_by = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def browser_launches(self) -> int:
        return 0 if self._browser is None else self._browser.launches

    def browser(self) -> CameraPageBrowser:
        if self._browser is None:
            self._browser = self._open_browser()
        return self._browser

    def replayer(self) -> Replayer:
        if self._replayer is None:
            self._replayer = Replayer(self._source, self._open_client())
        return self._replayer

    def list_images(
        self, terminal: str, stream: str, day: date, *, known: frozenset[datetime] = frozenset()
    ) -> Listing:
        """Every image of the UTC ``day`` (see Lister), by replay when it can be trusted."""
        now = self._clock()
        recipe = self._recipes.load(terminal)
        if recipe is not None and check_due(recipe, now):
            return self._check(recipe, terminal, stream, day)
        failure: ReplayError | None = None
        if recipe is not None:
            found = self._replay(recipe, stream, day, now.astimezone(UTC).date(), known)
            if isinstance(found, Replayed):
                return Listing(refs=sorted(found.refs), found_by={REPLAY: len(found.refs)})
            failure = found
            if failure.drop:
                self._drop(recipe, str(failure))
            elif isinstance(failure, ReplayEmpty) and (terminal, day) in self._empty_days:
                # The browser already found a stream of this terminal empty on this day (just
                # after midnight, say): an empty answer is believed for the rest of the pass.
                return Listing(refs=[], found_by={REPLAY: 0})
        try:
            listing, trace = self._browse(terminal, stream, day, known)
        except DiscoveryError as exc:
            if failure is None:
                raise
            # Both causes: what replay refused (a hostile answer, say) is the news.
            raise DiscoveryError(f"{failure}; then the browser: {exc}") from exc
        if recipe is not None and isinstance(failure, ReplayEmpty):
            if listing.refs:
                # Replay saw nothing of a day the browser lists: the recipe is wrong.
                self._drop(recipe, f"{failure}, the browser listed {len(listing.refs)}")
            else:
                self._empty_days.add((terminal, day))
        self._learn(trace, terminal, stream, day, listing, known)
        if failure is not None:
            # The run records why the browser listed this day.
            listing.found_by[f"fallback: {failure}"] = 1
        return listing

    def prefetch(self, wanted: Iterable[tuple[str, str, date]]) -> None:
        """Replay these (terminal, stream, day) listings now, concurrently over the pool.

        list_images then answers from them while the recipe is unchanged. Listings that
        need the browser (no recipe, or the hourly check due) are left to list_images.
        """
        now = self._clock()
        today = now.astimezone(UTC).date()
        wanted = list(wanted)
        recipes = {terminal: self._recipes.load(terminal) for terminal, _, _ in wanted}
        ready = [
            (recipe, stream, day)
            for terminal, stream, day in wanted
            if (recipe := recipes[terminal]) is not None and not check_due(recipe, now)
        ]
        if not ready:
            return
        replayer = self.replayer()

        def replay(recipe: Recipe, stream: str, day: date) -> Replayed | ReplayError:
            try:
                return replayer.list_day(recipe, stream, day, today=today)
            except ReplayError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            futures = {
                (recipe.terminal, stream, day): (recipe, pool.submit(replay, recipe, stream, day))
                for recipe, stream, day in ready
            }
            for key, (recipe, future) in futures.items():
                self._ready[key] = (recipe, future.result())

    def _replay(
        self, recipe: Recipe, stream: str, day: date, today: date, known: frozenset[datetime]
    ) -> Replayed | ReplayError:
        ahead = self._ready.pop((recipe.terminal, stream, day), None)
        # Asked with this very recipe: one learned since (a renewed token) asks again.
        if ahead is not None and _same_request(ahead[0], recipe):
            return ahead[1]
        try:
            return self.replayer().list_day(recipe, stream, day, today=today, known=known)
        except ReplayError as exc:
            return exc

    def _browse(
        self, terminal: str, stream: str, day: date, known: frozenset[datetime]
    ) -> tuple[Listing, Trace]:
        from gatecam.sources.draydog.trace import Trace

        trace = Trace()
        listing = self.browser().discover(terminal, stream, day, known=known, trace=trace)
        return listing, trace

    def _check(self, recipe: Recipe, terminal: str, stream: str, day: date) -> Listing:
        """Replay first, then the browser as referee; the browser's listing is used."""
        today = self._clock().astimezone(UTC).date()
        replayed: set[ImageRef] | None = None
        failure: ReplayError | None = None
        try:
            replayed = self.replayer().list_day(recipe, stream, day, today=today).refs
        except ReplayError as exc:
            failure = exc
        listing, trace = self._browse(terminal, stream, day, frozenset())
        browser = set(listing.refs)
        if replayed is not None:
            cause = disagreement(browser, replayed) or ""
            drop = bool(cause)
            listing.found_by[REPLAY] = len(replayed)
        else:
            cause = str(failure)
            # Replay seeing nothing of a day the browser lists is wrong too.
            drop = (
                failure is None
                or failure.drop
                or (isinstance(failure, ReplayEmpty) and bool(browser))
            )
        if drop:
            logger.warning(
                "discovery check for %s/%s %s: %s; the browser's listing is used and the "
                "recipe dropped",
                terminal,
                stream,
                day,
                cause,
            )
            self._drop(recipe, cause)
            listing.found_by[f"fallback: check: {cause}"] = 1
            self._learn(trace, terminal, stream, day, listing, frozenset())
        elif replayed is not None or isinstance(failure, ReplayEmpty):
            self._recipes.checked(recipe, self._clock())
        return listing

    def _drop(self, recipe: Recipe, cause: str) -> None:
        if self._recipes.drop(recipe):
            logger.warning(
                "discovery recipe for %s dropped (%s): listing in the browser",
                recipe.terminal,
                cause,
            )

    def _learn(
        self,
        trace: Trace,
        terminal: str,
        stream: str,
        day: date,
        listing: Listing,
        known: frozenset[datetime],
    ) -> None:
        """Keep the page's listing request as a recipe, if replaying it gives the same day.

        When none can be kept, ``listing.found_by`` says why, so the run records it.
        """
        recipe = learn(self._source, trace.data_requests, terminal, stream, day)
        if recipe is None:
            listing.found_by["not replayable: the page's list never came as JSON"] = 1
            return
        today = self._clock().astimezone(UTC).date()
        try:
            replayed = self.replayer().list_day(recipe, stream, day, today=today).refs
        except ReplayError as exc:
            cause: str | None = f"its listing request, replayed: {exc}"
        else:
            cause = disagreement(set(listing.refs), replayed, known)
        if cause:
            logger.info("%s: not learned, %s", terminal, cause)
            listing.found_by[f"not replayable: {cause}"] = 1
            return
        self._recipes.save(replace(recipe, learned_by=self.learned_by, checked_at=self._clock()))
        logger.info(
            "discovery recipe for %s learned: %s %s", terminal, recipe.method, recipe.url_template
        )


def _same_request(one: Recipe, other: Recipe) -> bool:
    return (one.method, one.url_template, one.headers, one.body_template) == (
        other.method,
        other.url_template,
        other.headers,
        other.body_template,
    )
