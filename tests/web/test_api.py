"""The JSON API over real HTTP: paged images, one image, coverage, errors, its OpenAPI schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app
from tests.web.conftest import GAP_GONE, IN_GATE, OUT_GATE, local

PROJECT = Path(__file__).resolve().parents[2]


def all_pages(client: httpx.Client, **params: str | int) -> tuple[list[dict[str, object]], int]:
    items, pages, cursor = [], 0, None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/images", params=query)
        assert response.status_code == 200, response.text
        data = response.json()
        items += data["items"]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            return items, pages


def test_images_page_through_the_whole_archive_in_time_order(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    items, pages = all_pages(client, limit=50)
    times = sorted(IN_GATE + OUT_GATE)
    assert [datetime.fromisoformat(str(i["timestamp"])) for i in items] == times
    assert len({i["id"] for i in items}) == len(times)
    assert pages == -(-len(times) // 50)
    first = items[0]
    assert first["url"] == f"/image/{first['id']}"
    assert first["thumb_url"] == f"/image/{first['id']}/thumb"
    assert client.get(str(first["url"])).headers["content-type"] == "image/jpeg"


def test_images_filter_by_stream_and_time(client: httpx.Client) -> None:
    items, _ = all_pages(
        client,
        terminal="apm",
        stream="in_gate",
        **{"from": "2025-09-02T10:00:00-07:00", "to": "2025-09-02T11:00:00-07:00"},
    )
    assert [datetime.fromisoformat(str(i["timestamp"])) for i in items] == [
        local(f"10:{m}") for m in ("02", "12", "22", "32", "42", "52")
    ]
    assert {i["stream"] for i in items} == {"in_gate"}
    none, _ = all_pages(client, stream="out_gate", **{"from": "2025-09-03"})
    assert none == []


def test_one_image_by_id_and_json_errors(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    image_id = archive[local("10:02")]
    row = client.get(f"/api/images/{image_id}").json()
    assert row["stream"] == "in_gate" and row["missing"] is False
    assert datetime.fromisoformat(row["timestamp"]) == local("10:02")
    missing = client.get(f"/api/images/{max(archive.values()) + 99}")
    assert missing.status_code == 404 and missing.json() == {"error": "no such image"}
    for query in ["limit=0", "limit=5000", "cursor=abc", "from=yesterday", "stream=IN.GATE"]:
        response = client.get(f"/api/images?{query}")
        assert response.status_code == 400, query
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"error"}, query


def test_coverage_json_matches_the_archive(client: httpx.Client) -> None:
    data = client.get("/api/coverage", params={"from": "2025-09-02", "to": "2025-09-02"}).json()
    # The server's zone (Los Angeles) decides the day, as on the page and in exports.
    assert data["days_in"] == "America/Los_Angeles" and data["cadence_minutes"] == 10
    in_gate = next(s for s in data["streams"] if s["stream"] == "in_gate")
    assert len(in_gate["hours"]) == 24
    # 2 September in Los Angeles: the archive began at 23:58 the day before, so every hour
    # is expected, and the day holds its own images, not those of 23:58 or 00:01 around it.
    assert in_gate["archive_began"] == "2025-09-02T06:58:00+00:00"
    assert in_gate["hours"][0]["start"] == local("00:00").isoformat()
    assert {h["expected"] for h in in_gate["hours"]} == {6}
    assert in_gate["held"] == 24 * 6 - len(GAP_GONE) + 1
    gaps = [(g["start"], g["minutes"]) for g in in_gate["gaps"]]
    assert gaps == [(local("14:02").isoformat(), 47)]
    bad = client.get("/api/coverage", params={"from": "2025-01-01", "to": "2025-12-31"})
    assert bad.status_code == 400


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A served archive with a token, on SQLite (one backend keeps the property test fast)."""
    from gatecam.database.migrate import upgrade
    from tests.web.conftest import index, write

    root = tmp_path_factory.mktemp("api")
    db = Database(f"sqlite:///{root / 'gatecam.db'}")
    upgrade(db)
    times = [local(f"10:{m}") for m in ("02", "12", "22")]
    write(root / "images", "in_gate", times)
    index(db, root / "images", "in_gate", times)
    with WebServer(create_app(Archive(db, LocalStore(root / "images")), token="s3cret")) as web:
        yield web.url
    db.dispose()


def test_the_api_keeps_to_its_openapi_schema(api_server: str) -> None:
    # The schemathesis command line, every check, against the served archive with a token; it
    # reads schemathesis.toml from the project folder. A fixed seed and few examples per
    # operation keep it reproducible and under half a minute.
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{api_server}/openapi.json",
        "-H",
        "Authorization: Bearer s3cret",
        "--checks",
        "all",
        "--max-examples",
        "10",
        "--seed",
        "1",
        "--no-color",
        "--generation-database",
        "none",
    ]
    done = subprocess.run(
        command, cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr
    assert "schemathesis.toml" in done.stdout  # the project's configuration was read
    assert "8 selected / 8 total" in done.stdout


def test_openapi_documents_every_api_path(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ["/api/stats", "/api/images", "/api/images/{id}", "/image/{id}",
                 "/image/{id}/thumb", "/api/coverage", "/healthz", "/metrics"]:  # fmt: skip
        assert path in spec["paths"], path
