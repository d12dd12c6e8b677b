"""Retry-After read as RFC 9110 has it: delay-seconds or an HTTP-date, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from gatecam.downloader.fetch import _retry_after

NOW = datetime(2025, 9, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("9" * 5000, 1e9),  # valid however long; far more than anyone waits
        ("Tue, 02 Sep 2025 12:00:30 GMT", 30.0),
        ("Tue, 02 Sep 2025 11:00:00 GMT", 0.0),  # already past: ask now
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - NOW).total_seconds(),
        ),
        ("nan", None),
        ("inf", None),
        ("-5", None),
        ("1e308", None),
        ("1.5", None),
        ("²", None),
        ("", None),
        ("soon", None),
        ("Mon, 99 Foo 2025 25:61:61 GMT", None),
    ],
)
def test_retry_after_is_delay_seconds_or_an_http_date(value: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": value.encode()})
    assert _retry_after(response, NOW) == seconds
