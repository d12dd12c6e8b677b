"""Whatever the CDN answers, a download ends stored or failed with a one-line reason."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatecam.downloader import DrayDogDownloader
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.storage.base import is_complete_jpeg

WHEN = datetime(2025, 9, 2, 14, 2, 39, tzinfo=UTC)
JPEG = render_jpeg("apm", "in_gate", WHEN, thumbnail=True)

# Header values as a server may send them: any byte but the line breaks and NUL that end one.
header_value = st.binary(max_size=40).map(
    lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")
)
numbers = st.sampled_from([b"nan", b"inf", b"-5", b"1e308", b"0", b"1", b"99999999999999999999"])
bodies = st.one_of(
    st.binary(max_size=300),
    st.just(JPEG),
    st.integers(0, len(JPEG)).map(lambda n: JPEG[:n]),
    st.binary(max_size=50).map(lambda tail: JPEG + tail),
)
statuses = st.one_of(st.sampled_from([200, 200, 200, 404, 429, 500, 503]), st.integers(100, 599))


@st.composite
def answers(draw: st.DrawFn) -> httpx.Response:
    headers: dict[str, bytes] = {}
    for name, typical in (
        ("Retry-After", numbers),
        ("Content-Type", st.sampled_from([b"image/jpeg", b"image/jpeg; q=1", b"text/html"])),
        ("Content-Length", st.integers(-5, 2 * len(JPEG)).map(lambda n: str(n).encode())),
    ):
        choice = draw(st.sampled_from(["absent", "typical", "arbitrary"]))
        if choice != "absent":
            headers[name] = draw(typical if choice == "typical" else header_value)
    return httpx.Response(draw(statuses), headers=headers, content=draw(bodies))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(answers(), min_size=1, max_size=4))
def test_any_answer_ends_stored_or_failed_with_one_line(script: list[httpx.Response]) -> None:
    replies = iter(script)

    def answer(request: httpx.Request) -> httpx.Response:
        # Each attempt gets the next scripted answer; once out, the last one again.
        nonlocal last
        last = next(replies, last)
        return httpx.Response(
            last.status_code, headers=last.headers, content=last.content, request=request
        )

    last = script[0]
    with tempfile.TemporaryDirectory() as folder:
        downloader = DrayDogDownloader(
            Path(folder),
            transport=httpx.MockTransport(answer),
            retries=2,
            backoff=0.0,
            max_retry_wait=0.0,
            timeout=5.0,
            clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),  # long published: 404 is final
        )
        with downloader:
            result = downloader.download_images_direct("in_gate", [WHEN])

        assert result.pending == []
        assert len(result.downloaded) + len(result.failed) == 1
        for failure in result.failed:
            assert failure.reason and "\n" not in failure.reason
        for image in result.downloaded:
            assert is_complete_jpeg((Path(folder) / image.key).read_bytes())
