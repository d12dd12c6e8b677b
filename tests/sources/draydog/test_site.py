"""Dray Dog addresses: page and CDN URLs are built as the site serves them and parsed strictly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gatecam.errors import InputError
from gatecam.model import ImageRef
from gatecam.sources.draydog import DrayDogSource

SOURCE = DrayDogSource()
REF = ImageRef("apm", "in_gate", datetime(2025, 9, 5, 7, 8, 39, tzinfo=UTC))
FULL = "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg"
THUMB = "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate-thumbnail.jpeg"


def test_camera_page_url() -> None:
    assert SOURCE.camera_page_url("apm", "out_gate") == (
        "https://app.draydog.com/terminal_cameras/apm?streamName=out_gate"
    )
    local = DrayDogSource(app_url="http://127.0.0.1:8123/", cdn_url="http://127.0.0.1:8123/cdn")
    assert local.camera_page_url("apm", "in_gate") == (
        "http://127.0.0.1:8123/terminal_cameras/apm?streamName=in_gate"
    )


@pytest.mark.parametrize(
    ("terminal", "stream"),
    [("APM", "in_gate"), ("apm", "in gate"), ("../etc", "in_gate"), ("apm", "a&b=c"), ("", "x")],
)
def test_camera_page_url_rejects_bad_names(terminal: str, stream: str) -> None:
    with pytest.raises(InputError):
        SOURCE.camera_page_url(terminal, stream)


def test_image_url_full_and_thumbnail_with_unpadded_hour() -> None:
    assert SOURCE.image_url(REF) == FULL
    assert SOURCE.image_url(REF, thumbnail=True) == THUMB


def test_image_url_converts_to_utc() -> None:
    pacific = REF.timestamp.astimezone(timezone(timedelta(hours=-7)))
    assert SOURCE.image_url(ImageRef("apm", "in_gate", pacific)) == FULL


@pytest.mark.parametrize(
    "timestamp",
    [
        datetime(2025, 9, 5, 0, 0, 0, tzinfo=UTC),
        datetime(2025, 9, 5, 9, 59, 59, tzinfo=UTC),
        datetime(2025, 9, 5, 23, 19, 6, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 1, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("thumbnail", [False, True])
def test_round_trip(timestamp: datetime, thumbnail: bool) -> None:
    ref = ImageRef("fenix", "out_gate", timestamp)
    for source in (SOURCE, DrayDogSource(cdn_url="http://127.0.0.1:9/cdn/")):
        assert source.parse_image_url(source.image_url(ref, thumbnail=thumbnail)) == ref


def test_thumbnail_and_full_image_name_the_same_image() -> None:
    assert SOURCE.parse_image_url(FULL) == SOURCE.parse_image_url(THUMB) == REF


@pytest.mark.parametrize(
    "url",
    [
        # Other hosts and prefix tricks.
        "https://cdn.example.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com.evil.invalid/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com@evil.invalid/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.comx/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "http://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://evil.invalid/https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        # Path tricks on the right host.
        "https://cdn.draydog.com/../apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com/x/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg/x.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-In_Gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:39-in_gate.jpeg\n",
        # Date, hour and timestamp that disagree.
        "https://cdn.draydog.com/apm/2025-09-06/7/2025-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/8/2025-09-05T07:08:39-in_gate.jpeg",
        # Zero-padded hour: the CDN writes str(hour).
        "https://cdn.draydog.com/apm/2025-09-05/07/2025-09-05T07:08:39-in_gate.jpeg",
        # Invalid or malformed timestamps.
        "https://cdn.draydog.com/apm/2025-13-45/99/2025-13-45T99:00:00-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-02-30/1/2025-02-30T01:00:00-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08:60-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05T07:08-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-9-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/7/2025-09-05 07:08:39-in_gate.jpeg",
        # Non-ASCII digits spell the same timestamp but are not the CDN's address.
        "https://cdn.draydog.com/apm/2025-09-05/7/\u0662\u0660\u0662\u0665-09-05T07:08:39-in_gate.jpeg",
        "https://cdn.draydog.com/apm/2025-09-05/\u0667/2025-09-05T07:08:39-in_gate.jpeg",
        # Not a URL at all.
        "",
        "data:image/jpeg;base64,AAAA",
    ],
)
def test_parse_rejects(url: str) -> None:
    assert SOURCE.parse_image_url(url) is None


def test_parse_ignores_query_and_fragment() -> None:
    assert SOURCE.parse_image_url(FULL + "?v=2") == REF
    assert SOURCE.parse_image_url(THUMB + "#top") == REF


def test_parsed_timestamp_is_aware_utc() -> None:
    ref = SOURCE.parse_image_url(FULL)
    assert ref is not None
    assert ref.timestamp.utcoffset() == timedelta(0)
