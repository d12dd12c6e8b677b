"""A day as an H.264 MP4 through PyAV: each image captioned with its time, gaps as cards."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache

import av
from PIL import Image, ImageDraw, ImageFont

from gatecam.errors import InputError
from gatecam.export.selection import Contents, Item, Sink
from gatecam.health.coverage import CoverageGap
from gatecam.storage import ImageStore

logger = logging.getLogger(__name__)

SIZE = (1280, 720)
CAPTION_HEIGHT = 44
FPS_RANGE = range(1, 61)
# A gap card stays this many seconds on screen, whatever the frame rate.
CARD_SECONDS = 1
# Fragmented MP4 needs no seeking back to write its index: it can be sent as it is made,
# and browsers and players read it like any MP4.
_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_FLAG_COLOURS = {"frozen": (255, 170, 0), "dark": (255, 120, 120), "blank": (255, 120, 120)}


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def caption_text(moment: datetime, contents: Contents) -> str:
    """``apm/in_gate  Tue 2025-09-02 14:02:00 -07:00  (21:02:00 UTC)``."""
    s = contents.selection
    local = moment.astimezone(s.zone)
    utc = moment.astimezone(UTC)
    offset = local.strftime("%z")
    return (
        f"{s.terminal}/{s.stream}  {local:%a %Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"
        f"  ({utc:%H:%M:%S} UTC)"
    )


def caption_band(text: str, flag: str | None = None) -> Image.Image:
    """The caption strip drawn at the foot of every frame: white text on black."""
    band = Image.new("RGB", (SIZE[0], CAPTION_HEIGHT), (0, 0, 0))
    draw = ImageDraw.Draw(band)
    draw.text((14, 7), text, fill=(255, 255, 255), font=_font(28))
    if flag:
        draw.text((SIZE[0] - 170, 7), flag.upper(), fill=_FLAG_COLOURS[flag], font=_font(28))
    return band


def _frame(data: bytes, text: str, flag: str | None) -> Image.Image:
    with Image.open(io.BytesIO(data)) as source:
        # JPEG draft mode decodes straight at a smaller scale when the frame is smaller.
        source.draft("RGB", SIZE)
        picture = source.convert("RGB")
    if picture.size != SIZE:
        picture = picture.resize(SIZE, Image.Resampling.BILINEAR)
    picture.paste(caption_band(text, flag), (0, SIZE[1] - CAPTION_HEIGHT))
    return picture


def gap_card(gap: CoverageGap, contents: Contents) -> Image.Image:
    """A grey frame that says what is missing: ``no image 14:02 to 14:49 (47 min)``."""
    zone = contents.selection.zone
    start, end = gap.start.astimezone(zone), gap.end.astimezone(zone)
    card = Image.new("RGB", SIZE, (48, 48, 52))
    draw = ImageDraw.Draw(card)
    text = f"no image {start:%H:%M} to {'now' if gap.open else f'{end:%H:%M}'} ({gap.minutes} min)"
    draw.text((SIZE[0] // 2, SIZE[1] // 2), text, fill=(255, 210, 120), font=_font(48), anchor="mm")
    card.paste(caption_band(caption_text(gap.start, contents)), (0, SIZE[1] - CAPTION_HEIGHT))
    return card


def check_fps(fps: int) -> int:
    if fps not in FPS_RANGE:
        raise InputError(f"fps must be 1 to 60, not {fps}")
    return fps


def parse_fps(text: str) -> int:
    """``?fps=`` as a checked whole number: ASCII digits only (``str.isdigit`` takes ``²``)."""
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise InputError(f"fps must be a whole number from 1 to 60, not {text!r}")
    return check_fps(int(text))


def require_frames(contents: Contents) -> Contents:
    """``contents``, or InputError if there is nothing to show (an MP4 needs a frame)."""
    if not contents.items and not contents.gaps:
        s = contents.selection
        span = f"{s.first}" if s.first == s.last else f"{s.first} to {s.last}"
        raise InputError(f"{s.terminal}/{s.stream} has no images on {span} to make a video of")
    return contents


def timelapse_chunks(
    contents: Contents,
    store: ImageStore,
    *,
    fps: int = 12,
    on_frame: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """The MP4 of ``contents``, piece by piece: one frame per image, oldest first.

    Each gap over 20 minutes is a card shown for CARD_SECONDS (``fps`` frames), so a silent
    camera is seen, not skipped. Images whose file cannot be read are left out (and logged).
    """
    check_fps(fps)
    require_frames(contents)
    sink = Sink()
    container = av.open(sink, mode="w", format="mp4", options={"movflags": _MOVFLAGS})
    try:
        s = contents.selection
        container.metadata["title"] = f"{s.terminal}/{s.stream} {s.first} to {s.last}"
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = SIZE
        video.pix_fmt = "yuv420p"
        # ultrafast: 8 ms of CPU a frame against 26 ms for veryfast (bench/export.py), for
        # files about a third larger; a day must encode in seconds on a busy small server.
        video.options = {"preset": "ultrafast", "crf": "26"}
        pts = 0
        for picture, repeats, is_image in _pictures(contents, store, fps):
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            # A card is repeated rather than given a longer duration: constant frame rate
            # is what every player and x264's rate control handle best.
            for _ in range(repeats):
                # In frames: PyAV gives the encoder a time base of 1/fps from ``rate``.
                frame.pts = pts
                pts += 1
                for packet in video.encode(frame):
                    container.mux(packet)
            if on_frame is not None and is_image:
                on_frame()
            yield sink.take()
        for packet in video.encode():
            container.mux(packet)
    finally:
        container.close()
    yield sink.take()


def _pictures(
    contents: Contents, store: ImageStore, fps: int
) -> Iterator[tuple[Image.Image, int, bool]]:
    """(frame, times shown, is an image) in time order: images once, a card per gap."""
    gaps = sorted(contents.gaps, key=lambda g: g.start)
    pending = list(gaps)
    items: list[Item] = contents.items
    for item in items:
        while pending and pending[0].start < item.timestamp:
            yield gap_card(pending.pop(0), contents), CARD_SECONDS * fps, False
        try:
            data = store.get(item.key)
        except (OSError, ValueError) as exc:
            logger.warning("timelapse: cannot read %s: %s", item.key, exc)
            continue
        try:
            picture = _frame(data, caption_text(item.timestamp, contents), item.flag)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            logger.warning("timelapse: cannot decode %s: %s", item.key, exc)
            continue
        yield picture, 1, True
    for gap in pending:
        yield gap_card(gap, contents), CARD_SECONDS * fps, False
