"""Reads and writes of camera health figures: a window's frames, a stream's newest, backfill."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from gatecam.camerahealth import DEFAULTS, Figures, Frame, Thresholds, flags
from gatecam.database.models import Image

_COLUMNS = (Image.id, Image.timestamp, Image.dhash, Image.brightness, Image.contrast)


_Row = Select[int, datetime | None, str | None, float | None, float | None]


def _held(terminal: str, stream: str) -> _Row:
    return select(*_COLUMNS).where(
        Image.terminal == terminal,
        Image.camera_id == stream,
        Image.timestamp.is_not(None),
        Image.missing_since.is_(None),
    )


def _frames(rows: Iterable[Any]) -> list[Frame]:
    return [Frame(row.id, row.timestamp, row.dhash, row.brightness, row.contrast) for row in rows]


def newest(session: Session, terminal: str, stream: str, count: int) -> list[Frame]:
    """The stream's ``count`` newest held images, oldest first."""
    query = _held(terminal, stream).order_by(Image.timestamp.desc()).limit(count)
    return _frames(session.execute(query).all())[::-1]


def between(
    session: Session, terminal: str, stream: str, start: datetime, end: datetime
) -> list[Frame]:
    """The stream's held images captured in [start, end), oldest first."""
    query = _held(terminal, stream).where(Image.timestamp >= start, Image.timestamp < end)
    return _frames(session.execute(query.order_by(Image.timestamp)).all())


def flags_between(
    session: Session,
    terminal: str,
    stream: str,
    start: datetime,
    end: datetime,
    limits: Thresholds = DEFAULTS,
) -> tuple[list[Frame], dict[int, str]]:
    """The window's frames and their flags, judged with the images just before it too.

    A frozen stretch that began before ``start`` is frozen from the window's first image.
    """
    lead_query = (
        _held(terminal, stream)
        .where(Image.timestamp < start)
        .order_by(Image.timestamp.desc())
        .limit(limits.frozen_run - 1)
    )
    lead = _frames(session.execute(lead_query).all())[::-1]
    frames = between(session, terminal, stream, start, end)
    found = flags(lead + frames, limits)
    return frames, {f.id: found[f.id] for f in frames if f.id in found}


def unmeasured(
    session: Session, after_id: int, limit: int, terminal: str | None = None
) -> list[tuple[int, str]]:
    """Up to ``limit`` (id, storage key) of held rows without figures, by id after ``after_id``."""
    query = (
        select(Image.id, Image.filepath)
        .where(Image.dhash.is_(None), Image.missing_since.is_(None), Image.id > after_id)
        .order_by(Image.id)
        .limit(limit)
    )
    if terminal is not None:
        query = query.where(Image.terminal == terminal)
    return [(row.id, row.filepath) for row in session.execute(query)]


def store_figures(session: Session, measured: Sequence[tuple[int, Figures]]) -> None:
    """Write the figures of many rows in one executemany."""
    if not measured:
        return
    session.execute(
        update(Image),
        [
            {"id": image_id, "dhash": f.dhash, "brightness": f.brightness, "contrast": f.contrast}
            for image_id, f in measured
        ],
    )
