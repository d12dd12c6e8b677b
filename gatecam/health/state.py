"""A stream's state, judged from the present: what its last runs, newest image and ledger say.

A stream is in exactly one state. Each is about now, not a sum of the past, so a stream
returns to ``ok`` within one interval of its cause being gone: the run that stores the last
missing image clears the ledger, and the state follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from gatecam.settings import SILENT_MINUTES


class State(StrEnum):
    """In order of precedence when several hold: the first names what to fix first."""

    DATABASE_DOWN = "database down"
    STALE = "stale"
    FAILING = "failing"
    FROZEN = "frozen"
    SILENT = "silent"
    OK = "ok"

    @property
    def code(self) -> str:
        """The state as an identifier: for JSON keys, metric labels and CSS classes."""
        return self.value.replace(" ", "_")


# Intervals without a run that ended well before a stream is stale.
STALE_INTERVALS = 3
# Images still missed (tried lately and not stored) past which a stream is failing: one
# image the CDN never serves whole stays below it, while a CDN or disk outage passes it at
# once (the site publishes about 6 images an hour).
MISSED_LIMIT = 3


@dataclass(frozen=True)
class Limits:
    """The thresholds, from the archiving interval and the silent setting."""

    interval: timedelta
    silent_after: timedelta = timedelta(minutes=SILENT_MINUTES)
    missed_limit: int = MISSED_LIMIT

    @property
    def stale_after(self) -> timedelta:
        return STALE_INTERVALS * self.interval


@dataclass(frozen=True)
class Facts:
    """What the database says about one stream at one moment."""

    terminal: str
    stream: str
    # When the newest run that ended well (success or partial) finished.
    last_ok: datetime | None
    # The newest run that ended on its own: its status, and whether it stored none of the
    # images it lacked.
    latest_status: str | None = None
    latest_stored_none: bool = False
    latest_error: str | None = None
    # Capture time of the newest image held.
    newest_image: datetime | None = None
    # Images in the ledger tried within the stale window, and the oldest one's first attempt.
    missed: int = 0
    missed_since: datetime | None = None
    last_missed_reason: str | None = None
    frozen_since: datetime | None = None
    frozen_images: int = 0


@dataclass(frozen=True)
class Verdict:
    """One stream's state, since when, and why in one line (None when ``ok``)."""

    terminal: str
    stream: str
    state: State
    since: datetime | None
    reason: str | None

    @property
    def name(self) -> str:
        return f"{self.terminal}/{self.stream}"

    @property
    def ok(self) -> bool:
        return self.state is State.OK


def judge(facts: Facts, limits: Limits, now: datetime) -> Verdict:
    """The state of one stream at ``now`` (aware UTC)."""
    name = f"{facts.terminal}/{facts.stream}"

    def verdict(state: State, since: datetime | None, reason: str | None) -> Verdict:
        return Verdict(facts.terminal, facts.stream, state, since, reason)

    # A run that listed images and stored none of them says more than how long ago one
    # ended well: the site answers and the archive cannot keep what it lists.
    if facts.latest_stored_none:
        return verdict(
            State.FAILING,
            facts.missed_since,
            f"{name}: the latest run stored none of the images it lacked: {facts.latest_error}",
        )
    if facts.last_ok is None:
        why = f"; latest run: {facts.latest_error}" if facts.latest_error else ""
        return verdict(State.STALE, None, f"{name}: no run has ended well yet{why}")
    if now - facts.last_ok >= limits.stale_after:
        return verdict(
            State.STALE,
            facts.last_ok,
            f"{name}: no run ended well for {duration(now - facts.last_ok)} "
            f"(limit {duration(limits.stale_after)})",
        )
    if facts.missed > limits.missed_limit:
        last = f": {facts.last_missed_reason}" if facts.last_missed_reason else ""
        return verdict(
            State.FAILING,
            facts.missed_since,
            f"{name}: {facts.missed} listed images not stored (limit {limits.missed_limit}){last}",
        )
    if facts.frozen_since is not None:
        return verdict(
            State.FROZEN,
            facts.frozen_since,
            f"{name}: camera frozen, its last {facts.frozen_images} images show one picture "
            f"(since {stamp(facts.frozen_since)})",
        )
    if facts.newest_image is None or now - facts.newest_image > limits.silent_after:
        newest = "none yet" if facts.newest_image is None else stamp(facts.newest_image)
        return verdict(
            State.SILENT,
            facts.newest_image,
            f"{name}: no new image for over {duration(limits.silent_after)} (newest: {newest})",
        )
    return verdict(State.OK, None, None)


def duration(span: timedelta) -> str:
    """A span in words a person reads at a glance: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def stamp(moment: datetime) -> str:
    """A moment as stored: UTC, with its offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
