"""Real JPEGs for the stand-in CDN: a drawn gate scene, the same bytes for the same image."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, time
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

FULL_SIZE = (1280, 720)
THUMBNAIL_SIZE = (240, 135)

_CONTAINER_COLOURS = [
    (176, 52, 40),
    (33, 86, 150),
    (40, 120, 72),
    (200, 140, 30),
    (120, 120, 128),
    (90, 50, 110),
    (220, 220, 215),
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=8)
def _scene(terminal: str, stream: str, timestamp: datetime) -> Image.Image:
    """Draw one full-size frame; seeded by the image's identity so it never changes."""
    rng = random.Random(f"{terminal}/{stream}/{timestamp.isoformat()}")
    width, height = FULL_SIZE
    horizon = height * 2 // 5

    image = Image.new("RGB", FULL_SIZE)
    draw = ImageDraw.Draw(image)
    # Daylight follows the hour so a day's thumbnails look like a day.
    light = 0.35 + 0.65 * max(0.0, 1 - abs(timestamp.hour + timestamp.minute / 60 - 13) / 9)
    for y in range(horizon):
        shade = int((150 + 80 * y / horizon) * light)
        draw.line([(0, y), (width, y)], fill=(shade // 2, int(shade * 0.8), shade))
    for y in range(horizon, height):
        shade = int((70 + 40 * (y - horizon) / (height - horizon)) * light)
        draw.line([(0, y), (width, y)], fill=(shade, shade, shade + 4))

    # The gate: a canopy on posts, lane markings, and a truck with a container in some lanes.
    draw.rectangle([0, horizon - 120, width, horizon - 90], fill=(60, 64, 70))
    for x in range(40, width, 240):
        draw.rectangle([x, horizon - 90, x + 24, height], fill=(95, 98, 104))
    for x in range(150, width, 240):
        for y in range(horizon + 20, height, 70):
            draw.rectangle([x, y, x + 8, y + 35], fill=(210, 200, 90))
    for lane in range(5):
        if rng.random() < 0.35:
            continue
        left = 70 + lane * 240 + rng.randint(0, 30)
        top = horizon - rng.randint(0, 40) + 30
        colour = rng.choice(_CONTAINER_COLOURS)
        draw.rectangle([left, top, left + 170, top + 180], fill=colour)
        for rib in range(left + 6, left + 170, 10):
            draw.line([(rib, top + 4), (rib, top + 176)], fill=tuple(c * 3 // 4 for c in colour))
        draw.text((left + 12, top + 12), f"MSCU{rng.randint(1000000, 9999999)}", fill="white")
        draw.rectangle([left + 10, top + 180, left + 160, top + 260], fill=(30, 30, 34))
        for wheel in (left + 25, left + 115):
            draw.ellipse([wheel, top + 235, wheel + 40, top + 275], fill=(15, 15, 15))

    # Sensor grain: a real camera frame is noisy, which is what makes it ~100 KB as JPEG.
    coarse = Image.frombytes("RGB", (160, 90), rng.randbytes(160 * 90 * 3))
    image = Image.blend(image, coarse.resize(FULL_SIZE, Image.Resampling.BICUBIC), 0.12)
    grain = Image.frombytes("L", FULL_SIZE, rng.randbytes(width * height)).convert("RGB")
    image = Image.blend(image, grain, 0.05)

    draw = ImageDraw.Draw(image)
    label = f"{terminal.upper()}  {stream}  {timestamp:%Y-%m-%d %H:%M:%S} UTC"
    draw.rectangle([0, 0, width, 48], fill=(0, 0, 0))
    draw.text((16, 8), label, fill=(255, 255, 255), font=_font(30))
    return image


# Every day the stand-in's cameras misbehave as real ones do, so the camera health checks
# (gatecam/camerahealth.py) have something to find: from 16:00 to 17:00 UTC the camera is
# frozen (it publishes its 16:00 picture again and again, byte for byte), and from 05:00 to
# 05:40 UTC it is black (a failed night mode: dark noise under the burnt-in caption).
FROZEN_STRETCH = (time(16, 0), time(17, 0))
BLACK_STRETCH = (time(5, 0), time(5, 40))


def condition(timestamp: datetime) -> str | None:
    """How the stand-in camera is at ``timestamp``: "frozen", "black" or None (working)."""
    clock = timestamp.astimezone(UTC).time()
    if FROZEN_STRETCH[0] <= clock < FROZEN_STRETCH[1]:
        return "frozen"
    if BLACK_STRETCH[0] <= clock < BLACK_STRETCH[1]:
        return "black"
    return None


def _black(terminal: str, stream: str, timestamp: datetime) -> Image.Image:
    rng = random.Random(f"black/{terminal}/{stream}/{timestamp.isoformat()}")
    width, height = FULL_SIZE
    noise = Image.frombytes("L", FULL_SIZE, rng.randbytes(width * height))
    image = Image.eval(noise, lambda v: v // 24).convert("RGB")
    draw = ImageDraw.Draw(image)
    label = f"{terminal.upper()}  {stream}  {timestamp:%Y-%m-%d %H:%M:%S} UTC"
    draw.rectangle([0, 0, width, 48], fill=(0, 0, 0))
    draw.text((16, 8), label, fill=(255, 255, 255), font=_font(30))
    return image


def render_jpeg(
    terminal: str, stream: str, timestamp: datetime, *, thumbnail: bool, faults: bool = True
) -> bytes:
    """The JPEG bytes of one image (full 1280x720 or thumbnail 240x135), deterministic.

    ``faults=False`` draws an ordinary picture even in the frozen and black stretches.
    """
    ts = timestamp.astimezone(UTC)
    state = condition(ts) if faults else None
    if state == "frozen":
        start = datetime.combine(ts.date(), FROZEN_STRETCH[0], UTC)
        return _render(terminal, stream, start, thumbnail)
    return _render(terminal, stream, ts, thumbnail, black=state == "black")


@lru_cache(maxsize=256)
def _render(
    terminal: str, stream: str, timestamp: datetime, thumbnail: bool, *, black: bool = False
) -> bytes:
    image = (_black if black else _scene)(terminal, stream, timestamp)
    out = io.BytesIO()
    if thumbnail:
        image.resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS).save(out, "JPEG", quality=75)
    else:
        image.save(out, "JPEG", quality=80)
    return out.getvalue()
