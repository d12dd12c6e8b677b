"""Which cameras are frozen now: for /healthz reasons and the ``gatecam_camera_frozen`` gauge."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from sqlalchemy.orm import Session

from gatecam.camerahealth import DEFAULTS, Thresholds, distance, frozen_now
from gatecam.database import browse, frames

# How far back a frozen stretch is followed to say since when: about a day at the site's pace.
_LOOK_BACK = 150


@dataclass(frozen=True)
class CameraState:
    """One stream's camera: frozen or not, and since which image and how many."""

    terminal: str
    stream: str
    frozen: bool
    since: datetime | None = None
    images: int = 0

    def reason(self) -> str:
        since = f"{self.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if self.since else "?"
        return (
            f"{self.terminal}/{self.stream}: camera frozen, its last {self.images} images "
            f"show one picture (since {since})"
        )


def camera_states(session: Session, limits: Thresholds = DEFAULTS) -> list[CameraState]:
    """Every stream's camera as its newest images show it."""
    states = []
    for s in browse.streams(session):
        # /healthz and /metrics ask on every scrape: the newest few images settle it for a
        # working camera, and only a frozen one is followed back to say since when.
        newest = frames.newest(session, s.terminal, s.stream, limits.frozen_run)
        if not frozen_now(newest, limits):
            states.append(CameraState(s.terminal, s.stream, False))
            continue
        latest = frames.newest(session, s.terminal, s.stream, _LOOK_BACK)
        # Walk back from the newest image while each pair is one picture.
        first = len(latest) - 1
        for n, (older, newer) in reversed(list(enumerate(pairwise(latest)))):
            if (
                older.dhash is None
                or newer.dhash is None
                or distance(older.dhash, newer.dhash) > limits.frozen_distance
            ):
                break
            first = n
        states.append(
            CameraState(s.terminal, s.stream, True, latest[first].timestamp, len(latest) - first)
        )
    return states


def health_reasons(session: Session, judged: Collection[tuple[str, str]]) -> list[str]:
    """One /healthz reason per judged stream whose camera is frozen now (none when all are well).

    Only the streams /healthz judges count: a retired stream's last frozen frames would
    otherwise keep the service unhealthy forever.
    """
    return [
        state.reason()
        for state in camera_states(session)
        if state.frozen and (state.terminal, state.stream) in judged
    ]
