"""The facts health is judged on, read from the database: a few index seeks per stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gatecam.database import browse
from gatecam.database.health import judged_streams, newest_run
from gatecam.database.models import MissedImage
from gatecam.health.frozen import CameraState, camera_states
from gatecam.health.state import Facts, Limits, Verdict, judge


def stream_facts(
    session: Session, terminal: str, stream: str, now: datetime, limits: Limits
) -> Facts:
    """What the runs, the newest image and the ledger say about one stream now."""
    ended = {s: newest_run(session, terminal, stream, s) for s in ("success", "partial", "failed")}
    finished = [run for run in ended.values() if run is not None]
    latest = max(finished, key=lambda run: (run.started_at, run.id), default=None)
    well = [run for s, run in ended.items() if s != "failed" and run is not None]
    last_ok = max((run.finished_at or run.started_at for run in well), default=None)
    # Only images tried lately count: those of days no longer listed are not tried again.
    recent = MissedImage.last_attempt >= now - limits.stale_after
    of_stream = (MissedImage.terminal == terminal, MissedImage.camera_id == stream)
    missed, missed_since = session.execute(
        select(func.count(), func.min(MissedImage.first_attempt)).where(*of_stream, recent)
    ).one()
    last_reason = session.scalar(
        select(MissedImage.reason)
        .where(*of_stream, recent)
        .order_by(MissedImage.last_attempt.desc())
        .limit(1)
    )
    return Facts(
        terminal,
        stream,
        last_ok=last_ok,
        latest_status=None if latest is None else latest.status,
        latest_stored_none=latest is not None
        and latest.status == "failed"
        and latest.discovered > 0
        and latest.downloaded == 0,
        latest_error=None if latest is None else latest.error,
        newest_image=browse.newest(session, terminal, stream),
        missed=int(missed or 0),
        missed_since=missed_since,
        last_missed_reason=last_reason,
    )


def verdicts(
    session: Session,
    configured: Sequence[tuple[str, str]] | None,
    now: datetime,
    limits: Limits,
    cameras: Sequence[CameraState] | None = None,
) -> list[Verdict]:
    """The state of every judged stream: the configured ones, or those that ran lately.

    ``cameras`` are the camera states when the caller has read them already.
    """
    judged = judged_streams(session, configured, now)
    frozen = {
        (c.terminal, c.stream): c
        for c in (camera_states(session) if cameras is None else cameras)
        if c.frozen and (c.terminal, c.stream) in set(judged)
    }
    found = []
    for terminal, stream in judged:
        facts = stream_facts(session, terminal, stream, now, limits)
        camera = frozen.get((terminal, stream))
        if camera is not None:
            facts = replace(facts, frozen_since=camera.since, frozen_images=camera.images)
        found.append(judge(facts, limits, now))
    return found
