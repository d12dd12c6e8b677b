"""/healthz: whether the database answers and every judged stream stores what it lists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from gatecam import __version__, camerastate
from gatecam.database import browse
from gatecam.database import health as health_reads
from gatecam.database.engine import reason
from gatecam.health import State
from gatecam.web.auth import authorized
from gatecam.web.common import Archive, json_response, json_text, json_text_response

# More failed downloads than this in one stream's last hour make /healthz 503: the site
# publishes about 6 images an hour, and a failed image is tried again at every job, so one
# image the CDN never serves whole stays below it while a failing disk or CDN passes it.
FAILED_DOWNLOADS_PER_HOUR = 10
# What /healthz says without the token when the database does not answer.
DATABASE_DOWN = State.DATABASE_DOWN.code


def health(archive: Archive, request: Request) -> Response:
    """200 when the database answers and every judged stream stores what it lists, else 503.

    A stream is unhealthy when its last successful run is older than three intervals, when
    its latest run stored none of the images it listed, when more than
    FAILED_DOWNLOADS_PER_HOUR of its downloads failed in the last hour, or when its camera is
    frozen. The answer is drawn once per minute and state of the stream counters (a few reads
    per stream), so a probe hammering it costs one short read per request.

    Anyone reaching the port may ask, so without the web token (always, when none is set)
    each stream's reason is its state's code (gatecam.health.State): the full reasons
    repeat run errors, which name the site's and CDN's addresses, archive paths and
    database hosts.
    """
    now = datetime.now(UTC)
    full = authorized(request.scope)
    try:
        state = browse.fingerprint(archive.db)
        version = (now.replace(second=0, microsecond=0), state)
        status, whole, short = archive.answers.get(
            "healthz", version, lambda: _health_answer(archive, now)
        )
    except SQLAlchemyError as exc:
        why = f"database: {reason(exc)}" if full else DATABASE_DOWN
        failed: dict[str, Any] = {
            "status": "unhealthy",
            "database": why if full else "down",
            "streams": [],
            "reason": why,
            "version": __version__,
        }
        return json_response(failed, 503)
    return json_text_response(whole if full else short, status)


def _health_answer(archive: Archive, now: datetime) -> tuple[int, str, str]:
    # Kept encoded: a probe hammering /healthz then costs the counters' read alone.
    whole, short = _health(archive, now)
    return (200 if whole["status"] == "ok" else 503), json_text(whole), json_text(short)


def _health(archive: Archive, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The full answer and the short one, with a code in place of each reason."""
    limit = 3 * archive.interval
    with archive.db.read_scope() as session:
        judged = health_reads.judged_streams(session, archive.streams, now)
        states = [health_reads.stream_health(session, t, s, now) for t, s in judged]
        cameras = camerastate.camera_states(session)
    # Only the judged streams count: a retired stream's last frozen frames would otherwise
    # keep the service unhealthy forever.
    frozen = {
        (c.terminal, c.stream): c.reason()
        for c in cameras
        if c.frozen and (c.terminal, c.stream) in set(judged)
    }
    streams: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    reasons: list[str] = []
    codes: list[str] = []
    for state in states:
        name = f"{state.terminal}/{state.stream}"
        last, latest = state.last_success, state.latest
        fresh = last is not None and now - last < limit
        found: list[tuple[State, str]] = []
        if latest is not None and latest.stored_none:
            found.append(
                (
                    State.FAILING,
                    f"{name}: the latest run listed {latest.discovered} images and stored none "
                    f"of those it lacked: {latest.error}",
                )
            )
        elif last is None:
            why = f"; latest run: {latest.error}" if latest is not None and latest.error else ""
            found.append((State.STALE, f"{name}: no successful run yet{why}"))
        elif not fresh:
            age = int((now - last).total_seconds() // 60)
            limit_min = int(limit.total_seconds() // 60)
            found.append(
                (State.STALE, f"{name}: last successful run {age} min ago (limit {limit_min} min)")
            )
        if state.failed_last_hour > FAILED_DOWNLOADS_PER_HOUR:
            found.append(
                (
                    State.FAILING,
                    f"{name}: {state.failed_last_hour} downloads failed in the last hour "
                    f"(limit {FAILED_DOWNLOADS_PER_HOUR})",
                )
            )
        if (state.terminal, state.stream) in frozen:
            found.append((State.FROZEN, frozen[state.terminal, state.stream]))
        # The first state in the order State gives names what to fix first.
        code = min((c for c, _ in found), key=list(State).index, default=State.OK).code
        streams.append(
            {
                "terminal": state.terminal,
                "stream": state.stream,
                "reason": code,
                "last_success": last,
                "fresh": fresh,
                "latest_status": None if latest is None else latest.status,
                "failed_last_hour": state.failed_last_hour,
            }
        )
        listed.append({"terminal": state.terminal, "stream": state.stream, "reason": code})
        reasons += [text for c, text in found if c is not State.FROZEN]
        if found:
            codes.append(f"{name}: {code}")
    # The cameras' reasons come last, after every stream's runs.
    reasons += frozen.values()
    status = "unhealthy" if reasons else "ok"
    whole = {
        "status": status,
        "database": "ok",
        "streams": streams,
        "reason": "; ".join(reasons) or None,
        "version": __version__,
    }
    short = {
        "status": status,
        "database": "ok",
        "streams": listed,
        "reason": "; ".join(codes) or None,
        "version": __version__,
    }
    return whole, short
