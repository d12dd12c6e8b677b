"""A hostile CDN over real HTTP: bodies that trickle in, Retry-After values that are no delay."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gatecam.downloader import DrayDogDownloader
from gatecam.downloader.fetch import STOPPED
from gatecam.model import ImageRef
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.faults import GARBAGE_RETRY_AFTER
from tests.helpers import image_path, wait_for


def _downloader(standin: StandIn, tmp_path: Path, **options: float) -> DrayDogDownloader:
    settings: dict[str, float] = {"timeout": 2.0, "backoff": 0.01, "max_retry_wait": 1.0}
    return DrayDogDownloader(
        tmp_path / "archive",
        source=DrayDogSource(app_url=standin.url, cdn_url=standin.cdn_url),
        concurrency=4,
        **(settings | options),
    )


def _published(standin: StandIn, count: int) -> list[datetime]:
    yesterday = standin.catalogue.today() - timedelta(days=1)
    return sorted(standin.catalogue.list("apm", "in_gate", yesterday)[:count])


def _stamp(ts: datetime) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%S}"


def test_the_trickle_fault_sends_a_valid_jpeg_slowly_with_its_length(standin: StandIn) -> None:
    [ts] = _published(standin, 1)
    url = standin.source.image_url(ImageRef("apm", "in_gate", ts))
    whole = httpx.get(url).content
    standin.inject("trickle", delay=0.0)
    answer = httpx.get(url)
    assert answer.headers["Content-Length"] == str(len(whole))
    assert answer.content == whole


def test_a_trickling_body_fails_within_the_image_bound_and_the_rest_are_stored(
    standin: StandIn, tmp_path: Path
) -> None:
    timestamps = _published(standin, 6)
    slow = timestamps[2]
    # Full image and thumbnail alike: a byte every 0.2 s would take hours for either.
    standin.inject("trickle", match=_stamp(slow), times=None, delay=0.2)
    started = time.monotonic()
    with _downloader(standin, tmp_path, timeout=2.0) as downloader:
        result = downloader.download_images_direct("in_gate", timestamps)
    took = time.monotonic() - started

    [failure] = result.failed
    assert failure.ref.timestamp == slow
    assert failure.reason.startswith("took longer than 2 s")
    assert "\n" not in failure.reason
    # The body alone would take hours: any bound near the image's (two timeouts, the short
    # retry waits) shows the deadline held, with room for a busy machine.
    assert took < 15
    stored = sorted(image.ref.timestamp for image in result.downloaded)
    assert stored == [ts for ts in timestamps if ts != slow]
    for image in result.downloaded:
        assert image_path(tmp_path / "archive", image.ref).is_file()
    assert not image_path(tmp_path / "archive", failure.ref).exists()


@pytest.mark.parametrize("kind", ["retry_nan", "retry_garbage"])
def test_a_retry_after_that_is_no_delay_falls_back_to_backoff_and_the_image_is_stored(
    standin: StandIn, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gatecam.downloader.fetch")
    timestamps = _published(standin, 3)
    hit = timestamps[-1]
    # Once per garbage value, on the last image: the earlier ones are stored meanwhile.
    values = ["nan", "nan"] if kind == "retry_nan" else list(GARBAGE_RETRY_AFTER)
    standin.inject(kind, match=f"{_stamp(hit)}-in_gate.jpeg", times=len(values))
    with _downloader(standin, tmp_path, max_retry_wait=5.0) as downloader:
        downloader.retries = len(values)
        result = downloader.download_images_direct("in_gate", timestamps)

    assert result.failed == []
    assert sorted(image.ref.timestamp for image in result.downloaded) == timestamps
    assert not any(image.thumbnail for image in result.downloaded)
    waits = [float(w) for w in re.findall(r"in ([0-9.]+) s after HTTP 429", caplog.text)]
    assert len(waits) == len(values)
    # Our own backoff (0.01 s and up) for what is no delay; a far HTTP date is a valid one,
    # waited as long as we ever wait.
    expected = [5.0 if value.endswith("GMT") else 0.1 for value in values]
    assert [w <= 0.1 for w in waits] == [e == 0.1 for e in expected]


def test_an_answer_held_silent_fails_at_its_deadline_and_the_rest_are_stored(
    standin: StandIn, tmp_path: Path
) -> None:
    timestamps = _published(standin, 5)
    silent = timestamps[1]
    # Nothing at all for 30 s, full image and thumbnail alike.
    standin.inject("timeout", match=_stamp(silent), times=None, delay=30.0)
    before = standin.cdn_requests
    started = time.monotonic()
    with _downloader(standin, tmp_path, timeout=1.0) as downloader:
        downloader.retries = 2
        result = downloader.download_images_direct("in_gate", timestamps)
    took = time.monotonic() - started

    [failure] = result.failed
    assert failure.ref.timestamp == silent
    assert failure.reason.startswith("no answer within 1 s after ")
    assert "\n" not in failure.reason
    attempts = standin.cdn_requests - before - (len(timestamps) - 1)
    assert attempts >= 1
    # Each attempt is cut at its deadline, whatever the server does not send.
    assert took < attempts * 1.6
    stored = sorted(image.ref.timestamp for image in result.downloaded)
    assert stored == [ts for ts in timestamps if ts != silent]


def test_a_read_blocked_past_the_deadline_is_cut_at_the_deadline(
    standin: StandIn, tmp_path: Path
) -> None:
    timestamps = _published(standin, 3)
    slow = timestamps[0]
    # Half the body 0.7 s after the headers, then 30 s of silence: httpx's read timeout, set
    # once when the request starts, would hold the read to at least 1.7 s.
    standin.inject("stall", match=_stamp(slow), times=None, delay=0.7)
    started = time.monotonic()
    with _downloader(standin, tmp_path, timeout=1.0) as downloader:
        downloader.retries = 0
        result = downloader.download_images_direct("in_gate", timestamps)
        took = time.monotonic() - started
        standin.clear_faults()
        # The cut connection is gone from the pool; the pool serves the next call.
        again = downloader.download_images_direct("in_gate", [slow])

    [failure] = result.failed
    assert failure.reason == "took longer than 1 s after 1 attempt"
    assert took < 1.6
    assert sorted(image.ref.timestamp for image in result.downloaded) == timestamps[1:]
    assert [image.ref.timestamp for image in again.downloaded] == [slow]


def test_a_stop_while_every_answer_is_held_silent_ends_the_download_at_once(
    standin: StandIn, tmp_path: Path
) -> None:
    timestamps = _published(standin, 4)
    standin.inject("timeout", times=None, delay=30.0)
    stop = threading.Event()
    downloader = DrayDogDownloader(
        tmp_path / "archive",
        source=DrayDogSource(app_url=standin.url, cdn_url=standin.cdn_url),
        concurrency=4,
        timeout=20.0,
        stop=stop,
    )
    with downloader, ThreadPoolExecutor(1) as pool:
        before = standin.cdn_requests
        running = pool.submit(downloader.download_images_direct, "in_gate", timestamps)
        wait_for(lambda: standin.cdn_requests - before == len(timestamps), "every request held")
        stop.set()
        stopped = time.monotonic()
        try:
            result = running.result(timeout=1.0)
        finally:
            standin.clear_faults()
            standin.stopping.set()  # lets a held answer go if the stop was not noticed
        took = time.monotonic() - stopped

    assert took < 1.0
    assert result.downloaded == []
    assert [failure.reason for failure in result.failed] == [STOPPED] * len(timestamps)
