"""The stand-in's JPEGs: real, realistically sized, and the same bytes every time."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

from PIL import Image

from gatecam.sources.draydog.standin.images import render_jpeg

TS = datetime(2025, 9, 1, 20, 8, 39, tzinfo=UTC)


def test_full_image_is_a_real_camera_sized_jpeg() -> None:
    data = render_jpeg("apm", "in_gate", TS, thumbnail=False)
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("JPEG", (1280, 720))
    assert data.endswith(b"\xff\xd9")
    assert 30_000 < len(data) < 160_000


def test_thumbnail_is_small() -> None:
    data = render_jpeg("apm", "in_gate", TS, thumbnail=True)
    assert Image.open(io.BytesIO(data)).size == (240, 135)
    assert len(data) < 20_000


def test_bytes_depend_only_on_the_image() -> None:
    pacific = timezone(timedelta(hours=-7))
    same = render_jpeg("apm", "in_gate", TS.astimezone(pacific), thumbnail=False)
    assert same == render_jpeg("apm", "in_gate", TS, thumbnail=False)
    later = render_jpeg("apm", "in_gate", TS + timedelta(seconds=1), thumbnail=False)
    assert later != same
    assert render_jpeg("apm", "out_gate", TS, thumbnail=False) != same
