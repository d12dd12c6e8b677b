"""The stand-in's hostile listing answers, over real HTTP: what discovery must refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.sources.draydog.standin.hostile import HUGE_BYTES, OFFSITE_TARGET

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
LISTING = {"terminal": "apm", "stream": "in_gate", "date": "2025-08-30"}


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(clock=lambda: NOW)) as standin:
        yield standin


@pytest.fixture
def client(site: StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as http:
        yield http


def test_offsite_next_points_at_the_target_and_lasts_one_answer(
    site: StandIn, client: httpx.Client
) -> None:
    site.inject("offsite_next")
    first = client.get("/api/history", params=LISTING).json()
    assert first["next"] == OFFSITE_TARGET
    assert first["images"]  # a real listing, only the link is hostile
    assert "next" not in client.get("/api/history", params=LISTING).json()


def test_the_control_api_sets_where_a_hostile_link_points(
    site: StandIn, client: httpx.Client
) -> None:
    faults = [
        {"kind": "offsite_next", "target": "http://127.0.0.1:1/x"},
        {"kind": "bad_next"},
        {"kind": "bad_next", "target": "http://xn--/x"},
    ]
    for fault in faults:
        assert client.post("/_standin/faults", json=fault).status_code == 201
    links = [client.get("/api/history", params=LISTING).json()["next"] for _ in faults]
    assert links == ["http://127.0.0.1:1/x", "http://[::1", "http://xn--/x"]


def test_nested_json_is_valid_and_too_deep_for_a_recursive_parser(
    site: StandIn, client: httpx.Client
) -> None:
    site.inject("nested_json", match="stream=in_gate")
    response = client.get("/api/history", params=LISTING)
    assert response.headers["content-type"] == "application/json"
    assert 390_000 < len(response.content) < 410_000
    assert response.content.startswith(b"[[[[") and response.content.endswith(b"]]]]")
    with pytest.raises(RecursionError):
        json.loads(response.content)


def test_huge_answer_is_a_valid_listing_of_56_mb_of_undeclared_length(
    site: StandIn, client: httpx.Client
) -> None:
    site.inject("huge_answer")
    with client.stream("GET", "/api/history", params=LISTING) as response:
        assert "content-length" not in response.headers
        body = b"".join(response.iter_bytes())
    assert len(body) == HUGE_BYTES
    data = json.loads(body)
    assert data["images"] and len(data["padding"]) > 55_000_000
