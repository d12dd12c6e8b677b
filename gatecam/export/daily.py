"""Each finished day's timelapse, rendered once and kept beside the archive as a derived file.

Encoding a day on request kept a viewer in front of a black player for ~15 s. A day that
is over changes only if an image is added or removed, so its MP4 is made once (by the
scheduler's own job, off the download's path) and served as a file. The files live in the
store's derived folder ``.timelapse/<terminal>/<stream>/<day>.mp4``: like the thumbnails,
outside the images' key layout, so verify and retention never take them for images.

Beside each MP4 a small JSON file says what it was made of (a digest of the day's images
and gaps, the zone and the frame rate): a file is fresh while the day's contents still
give the same digest, and rendered again when they do not.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gatecam.database import browse
from gatecam.database.engine import Database
from gatecam.export.selection import Contents, Selection, select_images
from gatecam.export.timelapse import timelapse_chunks
from gatecam.storage import ImageStore
from gatecam.storage.local import write_atomic

logger = logging.getLogger(__name__)

# The store's derived folder of the rendered days (``.timelapse`` in a local archive).
FOLDER = "timelapse"
# The frame rate of the kept files: the day page's default.
FPS = 12
# Finished days looked at on each pass: the days the overview lists. An older day changes
# only by a backfill, which the next pass within this window renders again.
LOOKBACK_DAYS = 14


@dataclass(frozen=True)
class Rendered:
    """One day's file made by a pass, and how many images it shows."""

    terminal: str
    stream: str
    day: date
    path: Path
    images: int


def video_path(folder: Path, terminal: str, stream: str, day: date) -> Path:
    return folder / terminal / stream / f"{day.isoformat()}.mp4"


def _stamp_path(video: Path) -> Path:
    return video.with_suffix(".json")


def digest(contents: Contents, fps: int = FPS) -> str:
    """What a day's video is made of: its images (by row and time), gaps, zone and rate.

    Rows, not bytes: reading every image to tell whether the file is fresh would cost
    what rendering it costs.
    """
    h = hashlib.sha256()
    s = contents.selection
    h.update(f"{s.terminal}/{s.stream} {s.first} {s.last} {s.zone.key} {fps}\n".encode())
    for item in contents.items:
        h.update(f"i {item.id} {item.timestamp.isoformat()} {item.flag or ''}\n".encode())
    for gap in contents.gaps:
        # A gap open up to now ends where the video says "now": as long as no image comes,
        # the video of a day still open stays true.
        end = "now" if gap.open else gap.end.isoformat()
        h.update(f"g {gap.start.isoformat()} {end}\n".encode())
    return h.hexdigest()


def stored_video(folder: Path, contents: Contents, fps: int = FPS) -> Path | None:
    """The kept MP4 of ``contents``' day, if it was made of exactly these contents."""
    s = contents.selection
    video = video_path(folder, s.terminal, s.stream, s.first)
    try:
        stamp = json.loads(_stamp_path(video).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("digest") != digest(contents, fps):
        return None
    return video if video.is_file() else None


def render_day(
    folder: Path,
    contents: Contents,
    store: ImageStore,
    *,
    fps: int = FPS,
    on_frame: Callable[[], None] | None = None,
) -> Path:
    """Encode ``contents`` (one day) into its kept MP4 and stamp it; returns the file.

    Raises InputError if the day has nothing to show, OSError if the folder is not writable.
    """
    s = contents.selection
    video = video_path(folder, s.terminal, s.stream, s.first)
    stamp = {"digest": digest(contents, fps), "images": len(contents.items), "fps": fps}
    write_atomic(video, timelapse_chunks(contents, store, fps=fps, on_frame=on_frame))
    # After the video: a stamp never vouches for a file that is not there yet.
    write_atomic(_stamp_path(video), json.dumps(stamp).encode())
    return video


def render_finished_days(
    db: Database,
    store: ImageStore,
    zone: ZoneInfo,
    *,
    now: datetime | None = None,
    days: int = LOOKBACK_DAYS,
    streams: Sequence[tuple[str, str]] | None = None,
    fps: int = FPS,
) -> list[Rendered]:
    """Render each of the last ``days`` finished days (midnight to midnight in ``zone``) of
    every stream (or of ``streams``) whose kept MP4 is missing or stale; returns those made.

    Idempotent: a day already rendered from the same images is skipped, so a second pass
    writes nothing. A store with no local folder for derived files (a bucket) renders none.
    """
    folder = store.derived_folder(FOLDER)
    if folder is None:
        return []
    now = now or datetime.now(UTC)
    today = now.astimezone(zone).date()
    if streams is None:
        with db.read_scope() as session:
            streams = [(s.terminal, s.stream) for s in browse.streams(session)]
    made: list[Rendered] = []
    for terminal, stream in streams:
        for back in range(1, days + 1):
            day = today - timedelta(days=back)
            contents = select_images(db, Selection(terminal, stream, day, day, zone), now)
            if not contents.items or stored_video(folder, contents, fps) is not None:
                continue
            path = render_day(folder, contents, store, fps=fps)
            logger.info(
                "timelapse: rendered %s/%s %s (%d images)",
                terminal,
                stream,
                day,
                len(contents.items),
            )
            made.append(Rendered(terminal, stream, day, path, len(contents.items)))
    return made
