"""The stand-in variants replay must meet: a session token, a cursor-paged API, an embedded list."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.sources.draydog.standin.variants import CURSOR_SIZE, TOKEN_HEADER

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
DAY = date(2025, 8, 30)
QUERY = {"terminal": "apm", "stream": "in_gate", "date": DAY.isoformat()}


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(clock=lambda: NOW)) as standin:
        yield standin


@pytest.fixture
def client(site: StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as http:
        yield http


def whole_day(site: StandIn) -> list[str]:
    return [ts.isoformat() for ts in site.catalogue.list("apm", "in_gate", DAY)]


def test_token_variant_needs_a_fresh_session_token(site: StandIn, client: httpx.Client) -> None:
    site.set_variants(["token"])
    assert client.get("/api/history", params=QUERY).status_code == 401
    token = client.get("/api/session").json()["token"]
    headers = {TOKEN_HEADER: token}
    answer = client.get("/api/history", params=QUERY, headers=headers)
    assert answer.status_code == 200
    assert [i["timestamp"] for i in answer.json()["images"]] == whole_day(site)
    site.expire_tokens()
    assert client.get("/api/history", params=QUERY, headers=headers).status_code == 401


def test_cursor_variant_answers_in_parts_linked_by_next(
    site: StandIn, client: httpx.Client
) -> None:
    site.set_variants(["cursor"])
    answer: dict[str, Any] = client.get("/api/history", params=QUERY).json()
    seen = [i["timestamp"] for i in answer["images"]]
    parts = 1
    while answer["next"]:
        answer = client.get(answer["next"]).json()
        seen += [i["timestamp"] for i in answer["images"]]
        parts += 1
    assert seen == whole_day(site)
    assert parts == -(-len(seen) // CURSOR_SIZE) > 1


def test_embedded_variant_renders_the_list_into_the_html(
    site: StandIn, client: httpx.Client
) -> None:
    site.set_variants(["embedded"])
    page = client.get("/terminal_cameras/apm", params={"streamName": "in_gate", "date": DAY})
    assert page.headers["content-type"].startswith("text/html")
    embedded = re.search(r'id="standin-data" type="application/json">(.*?)</script>', page.text)
    assert embedded is not None
    data = json.loads(embedded[1])
    assert [i["timestamp"] for i in data["images"]] == whole_day(site)
    assert data["images"][0]["full"].startswith(site.cdn_url + "/apm/")


def test_short_listing_fault_answers_half_the_day(site: StandIn, client: httpx.Client) -> None:
    site.inject("short_listing", match="/api/history", times=1)
    short = client.get("/api/history", params=QUERY).json()["images"]
    full = client.get("/api/history", params=QUERY).json()["images"]
    assert len(short) == len(full) // 2 and short == full[: len(short)]
    assert site.api_requests == 2
