"""Is the camera itself working: a perceptual hash and light figures per image, and flags.

An archive can look complete while the camera publishes the same frame over and over
(frozen) or black or washed-out frames. Each image gets three small figures, computed from
the bytes already in memory when it is downloaded: a 64-bit difference hash (dHash) of its
picture, its mean brightness and its contrast (standard deviation of brightness), both on
the 0-255 scale. The flags are derived from those figures when the archive is read, so
thresholds can change without touching stored rows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import NamedTuple

from PIL import Image, ImageStat, UnidentifiedImageError

__all__ = [
    "BLANK_CONTRAST",
    "DARK_BRIGHTNESS",
    "FROZEN_DISTANCE",
    "FROZEN_RUN",
    "Figures",
    "Frame",
    "Thresholds",
    "distance",
    "flags",
    "frozen_now",
    "measure",
]

# Defaults chosen from the stand-in's images (sources/draydog/standin/images.py), measured over a
# day of its schedule: its darkest night frames have a mean brightness of 57 and contrast
# of 22; its black frames (night mode failed: dark noise under the burnt-in caption) 5.5
# and 7. Two consecutive ordinary frames differ in at least 5 of the 64 dHash bits, the
# frames of its frozen stretch in none (a stuck camera repeats a frame to the bit, and a
# re-encoded copy moves a bit or two at most).
DARK_BRIGHTNESS = 20.0
BLANK_CONTRAST = 10.0
FROZEN_DISTANCE = 2
# Three identical frames in a row (20-30 min at the site's pace) is not chance.
FROZEN_RUN = 3

# dHash compares neighbouring pixels of a 9x8 grey thumbnail: 8 x 8 = 64 bits.
_HASH_SIZE = (9, 8)
# Light figures on a small copy: JPEG draft mode decodes at 1/8 scale, about 2 ms a frame.
_STAT_SIZE = (160, 90)


class Figures(NamedTuple):
    """One image's figures: ``dhash`` as 16 hex digits, brightness and contrast 0-255."""

    dhash: str
    brightness: float
    contrast: float


@dataclass(frozen=True)
class Frame:
    """One archived image as the health checks see it."""

    id: int
    timestamp: datetime
    dhash: str | None
    brightness: float | None
    contrast: float | None


@dataclass(frozen=True)
class Thresholds:
    """When an image counts as dark, blank or frozen (see the defaults above)."""

    dark_brightness: float = DARK_BRIGHTNESS
    blank_contrast: float = BLANK_CONTRAST
    frozen_distance: int = FROZEN_DISTANCE
    frozen_run: int = FROZEN_RUN


DEFAULTS = Thresholds()


def measure(data: bytes) -> Figures | None:
    """The figures of an encoded image, or None if Pillow cannot decode it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            # Draft mode lets the JPEG decoder scale down while decoding: far less work.
            image.draft("L", (_STAT_SIZE[0] * 2, _STAT_SIZE[1] * 2))
            grey = image.convert("L")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        # Not an image Pillow can read: the image is still archived, only unmeasured.
        return None
    small = grey.resize(_STAT_SIZE, Image.Resampling.BILINEAR)
    stat = ImageStat.Stat(small)
    tiny = grey.resize(_HASH_SIZE, Image.Resampling.BOX).tobytes()
    width = _HASH_SIZE[0]
    bits = 0
    for row in range(_HASH_SIZE[1]):
        for col in range(width - 1):
            left, right = tiny[row * width + col], tiny[row * width + col + 1]
            bits = (bits << 1) | (left > right)
    return Figures(f"{bits:016x}", round(stat.mean[0], 2), round(stat.stddev[0], 2))


def distance(a: str, b: str) -> int:
    """How many of the 64 bits differ between two dHashes (Hamming distance)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _light_flag(frame: Frame, limits: Thresholds) -> str | None:
    if frame.brightness is not None and frame.brightness < limits.dark_brightness:
        return "dark"
    if frame.contrast is not None and frame.contrast < limits.blank_contrast:
        return "blank"
    return None


def flags(frames: Sequence[Frame], limits: Thresholds = DEFAULTS) -> dict[int, str]:
    """Image id -> "dark", "blank" or "frozen" for the flagged ones among ``frames``.

    ``frames`` are one stream's images oldest first; pass a few images from before the
    window too, so a frozen stretch that began earlier is recognised from its first image
    in the window. In a run of ``frozen_run`` or more near-identical frames, all but the
    first are frozen: the first is the last picture the camera really took. A dark or blank
    frame is flagged as such even when it repeats (a black camera, not a stuck one).
    """
    found: dict[int, str] = {}
    run: list[Frame] = []

    def close_run() -> None:
        if len(run) >= limits.frozen_run:
            for frame in run[1:]:
                found.setdefault(frame.id, "frozen")

    previous: Frame | None = None
    for frame in frames:
        light = _light_flag(frame, limits)
        if light is not None:
            found[frame.id] = light
        if frame.dhash is None:
            close_run()
            run, previous = [], None
            continue
        if (
            previous is not None
            and previous.dhash is not None
            and distance(previous.dhash, frame.dhash) <= limits.frozen_distance
        ):
            run.append(frame)
        else:
            close_run()
            run = [frame]
        previous = frame
    close_run()
    return found


def frozen_now(latest: Sequence[Frame], limits: Thresholds = DEFAULTS) -> bool:
    """Whether a stream's newest ``frozen_run`` images (oldest first) are one picture."""
    recent = [f for f in latest[-limits.frozen_run :] if f.dhash is not None]
    if len(recent) < limits.frozen_run or _light_flag(recent[-1], limits) is not None:
        return False
    hashes = [f.dhash for f in recent if f.dhash is not None]
    return all(distance(a, b) <= limits.frozen_distance for a, b in pairwise(hashes))
