"""Downloading from the stand-in CDN over real HTTP into a real archive directory."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatecam.downloader import DrayDogDownloader
from gatecam.downloader.fetch import DownloadResult
from gatecam.errors import InputError
from gatecam.model import ImageRef
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin import StandIn
from gatecam.storage.base import is_complete_jpeg
from tests.helpers import image_path, mount_tmpfs

MakeDownloader = Callable[..., DrayDogDownloader]


@pytest.fixture
def make_downloader(tmp_path: Path, standin: StandIn) -> Iterator[MakeDownloader]:
    """Build downloaders aimed at the stand-in, with waits small enough for tests."""
    made: list[DrayDogDownloader] = []

    def make(download_dir: Path | None = None, **options: Any) -> DrayDogDownloader:
        settings: dict[str, Any] = {
            "source": DrayDogSource(app_url=standin.url, cdn_url=standin.cdn_url),
            "timeout": 2.0,
            "retries": 3,
            "backoff": 0.01,
            "max_retry_wait": 1.0,
            **options,
        }
        downloader = DrayDogDownloader(download_dir or tmp_path / "archive", **settings)
        made.append(downloader)
        return downloader

    yield make
    for downloader in made:
        downloader.close()


def published(standin: StandIn, count: int, stream: str = "in_gate") -> list[datetime]:
    """``count`` timestamps the stand-in CDN serves, from yesterday's history."""
    yesterday = standin.catalogue.today() - timedelta(days=1)
    return sorted(standin.catalogue.list("apm", stream, yesterday)[:count])


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def fill(path: Path) -> None:
    """Write ``path`` until the file system has not a byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)


def test_downloads_a_day_into_the_archive(
    make_downloader: MakeDownloader, standin: StandIn, tmp_path: Path
) -> None:
    timestamps = published(standin, 12)
    downloader = make_downloader()

    # A duplicate timestamp, in another zone, is still one image.
    again = timestamps[0].astimezone(datetime.now().astimezone().tzinfo)
    result = downloader.download_images_direct("in_gate", [*reversed(timestamps), again])

    assert result.failed == [] and result.pending == []
    assert [image.ref.timestamp for image in result.downloaded] == timestamps
    with httpx.Client() as client:
        for image in result.downloaded:
            assert tmp_path / "archive" / image.key == image_path(tmp_path / "archive", image.ref)
            assert not image.thumbnail
            cdn_bytes = client.get(image.url).content
            assert image.url == downloader.source.image_url(image.ref)
            assert (tmp_path / "archive" / image.key).read_bytes() == cdn_bytes
            assert image.file_size == len(cdn_bytes)
            assert image.sha256 == hashlib.sha256(cdn_bytes).hexdigest()
    assert len(files_under(tmp_path / "archive")) == len(timestamps)


def test_downloads_in_parallel_over_a_bounded_pool(
    make_downloader: MakeDownloader, standin: StandIn
) -> None:
    lock = threading.Lock()
    in_flight = 0
    most = 0

    def sent(request: httpx.Request) -> None:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)

    def answered(response: httpx.Response) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    # Each answer takes a while, so parallel workers are visibly in flight together.
    standin.latency = 0.2
    hooks = {"request": [sent], "response": [answered]}
    downloader = make_downloader(concurrency=8, event_hooks=hooks)
    result = downloader.download_images_direct("in_gate", published(standin, 16))

    assert len(result.downloaded) == 16
    assert 2 <= most <= 8


def test_falls_back_to_the_thumbnail_when_the_full_image_is_missing(
    make_downloader: MakeDownloader, standin: StandIn, tmp_path: Path
) -> None:
    [timestamp] = published(standin, 1)
    standin.inject("404", match="-in_gate.jpeg")
    result = make_downloader().download_images_direct("in_gate", [timestamp])

    [image] = result.downloaded
    assert image.thumbnail
    assert image.url.endswith("-in_gate-thumbnail.jpeg")
    assert (tmp_path / "archive" / image.key).read_bytes() == httpx.get(image.url).content
    assert is_complete_jpeg((tmp_path / "archive" / image.key).read_bytes())


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("html", "not a JPEG (text/html)"),
        ("wrong_type", "not a JPEG (text/plain)"),
        ("zero", "empty body (0 bytes)"),
        ("no_eoi", "incomplete JPEG (no end marker)"),
        ("truncated", "truncated (got "),
    ],
)
def test_a_bad_body_is_a_failure_and_never_written(
    make_downloader: MakeDownloader, standin: StandIn, tmp_path: Path, fault: str, reason: str
) -> None:
    [timestamp] = published(standin, 1)
    standin.inject(fault, times=100)  # full image and thumbnail alike
    before = standin.cdn_requests
    result = make_downloader(retries=2).download_images_direct("in_gate", [timestamp])

    assert result.downloaded == [] and result.pending == []
    [failure] = result.failed
    assert failure.ref == ImageRef("apm", "in_gate", timestamp)
    assert failure.reason.startswith(reason)
    assert "\n" not in failure.reason
    assert files_under(tmp_path / "archive") == []
    # A bad body is not asked for again (only the thumbnail is tried instead); a connection
    # dropped mid-body is a network fault, asked for again up to the retries.
    assert standin.cdn_requests - before == (3 if fault == "truncated" else 2)


@pytest.mark.parametrize("fault", ["503", "500", "502", "reset", "timeout", "truncated"])
def test_a_transient_fault_is_retried_and_the_image_stored(
    make_downloader: MakeDownloader, standin: StandIn, fault: str, tmp_path: Path
) -> None:
    [timestamp] = published(standin, 1)
    standin.inject(fault, match="-in_gate.jpeg", delay=2.0)
    before = standin.cdn_requests
    # The timeout bounds headers and body together: room for a busy machine to draw the image.
    result = make_downloader(timeout=0.8).download_images_direct("in_gate", [timestamp])

    assert standin.cdn_requests - before == 2
    [image] = result.downloaded
    assert not image.thumbnail
    assert (tmp_path / "archive" / image.key).read_bytes() == httpx.get(image.url).content


def test_429_waits_as_long_as_retry_after_says(
    make_downloader: MakeDownloader, standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    [timestamp] = published(standin, 1)
    standin.inject("429", match="-in_gate.jpeg", retry_after=1)
    caplog.set_level(logging.DEBUG, logger="gatecam.downloader.fetch")
    # Our own backoff would wait far longer than the server asked.
    downloader = make_downloader(backoff=5.0, max_retry_wait=10.0)
    result = downloader.download_images_direct("in_gate", [timestamp])

    assert len(result.downloaded) == 1
    assert "in 1.0 s after HTTP 429" in caplog.text


def test_retry_after_is_capped_by_max_retry_wait(
    make_downloader: MakeDownloader, standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    [timestamp] = published(standin, 1)
    standin.inject("429", match="-in_gate.jpeg", retry_after=3600)
    caplog.set_level(logging.DEBUG, logger="gatecam.downloader.fetch")
    result = make_downloader(max_retry_wait=0.3).download_images_direct("in_gate", [timestamp])

    assert len(result.downloaded) == 1
    assert "in 0.3 s after HTTP 429" in caplog.text


def test_a_persistent_server_error_fails_after_the_retries(
    make_downloader: MakeDownloader, standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gatecam.downloader.fetch")
    timestamps = published(standin, 4)
    standin.inject("500", times=100)
    before = standin.cdn_requests
    result = make_downloader(retries=2).download_images_direct("in_gate", timestamps)

    assert result.downloaded == []
    assert [f.reason for f in result.failed] == ["HTTP 500 after 3 attempts"] * 4
    # No thumbnail attempt: a server that keeps failing will not serve it either.
    assert standin.cdn_requests - before == 3 * 4
    # Each image's reason is there for debugging; the run's one summary line is the warning.
    failures = [r for r in caplog.records if "HTTP 500 after 3 attempts" in r.getMessage()]
    assert len(failures) == 4 and {r.levelno for r in failures} == {logging.DEBUG}


def test_a_404_is_pending_while_young_and_a_failure_when_old(
    make_downloader: MakeDownloader, standin: StandIn
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    young, old = now - timedelta(seconds=61), now - timedelta(hours=2, seconds=7)
    for ts in (young, old):
        assert not standin.catalogue.exists("apm", "in_gate", ts)
    downloader = make_downloader(publish_grace=timedelta(minutes=5), clock=lambda: now)
    result = downloader.download_images_direct("in_gate", [old, young])

    assert result.downloaded == []
    assert result.pending == [ImageRef("apm", "in_gate", young)]
    assert [(f.ref.timestamp, f.reason) for f in result.failed] == [(old, "HTTP 404")]


def test_a_full_disk_is_a_failure_with_no_partial_file(
    make_downloader: MakeDownloader, standin: StandIn, tmp_path: Path
) -> None:
    timestamps = published(standin, 3)
    with mount_tmpfs(tmp_path / "disk", "1m") as disk:
        fill(disk / "filler")
        result = make_downloader(download_dir=disk).download_images_direct("in_gate", timestamps)

        assert result.downloaded == []
        assert len(result.failed) == 3
        for failure in result.failed:
            path = image_path(disk, failure.ref)
            assert failure.reason == f"cannot write {path}: No space left on device"
        assert [p.name for p in files_under(disk)] == ["filler"]


def test_names_and_timestamps_are_checked_before_any_request(
    make_downloader: MakeDownloader, standin: StandIn
) -> None:
    with pytest.raises(InputError, match="terminal"):
        DrayDogDownloader("archive", terminal="../apm")
    downloader = make_downloader()
    before = standin.cdn_requests
    with pytest.raises(InputError, match="stream"):
        downloader.download_images_direct("in gate", [datetime.now(UTC)])
    with pytest.raises(InputError, match="time zone"):
        downloader.download_images_direct("in_gate", [datetime(2025, 9, 1, 5, 3, 9)])
    assert downloader.download_images_direct("in_gate", []) == DownloadResult([], [], [])
    assert standin.cdn_requests == before
