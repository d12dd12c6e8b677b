"""The token, the session cookie and the headers every answer carries, over HTTP, on SQLite."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from gatecam.archive import Archive
from gatecam.cli import main
from gatecam.database.engine import Database
from gatecam.errors import InputError
from gatecam.settings import load_settings
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.web.conftest import local

pytestmark = sqlite_only
TOKEN = "s3cret-token"


@pytest.fixture
def guarded(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> Iterator[httpx.Client]:
    app = create_app(Archive(database, LocalStore(tmp_path / "images")), token=TOKEN)
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=10) as client:
        yield client


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_token_is_bad_input_not_an_open_server(
    blank: str,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InputError, match="GATECAM_WEB_TOKEN: is empty"):
        load_settings({"GATECAM_WEB_TOKEN": blank})
    assert load_settings({"GATECAM_WEB_TOKEN": f"{blank}s3cret\n"}).web_token == "s3cret"
    monkeypatch.setenv("GATECAM_WEB_TOKEN", blank)
    with pytest.raises(SystemExit) as exit_info:
        main(["web", "--port", "0", "--database-url", database_url])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and "GATECAM_WEB_TOKEN: is empty" in err


def test_token_in_the_address_becomes_a_signed_session(guarded: httpx.Client) -> None:
    answer = guarded.get("/apm/in_gate/2025-09-02", params={"tz": "UTC", "token": TOKEN})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/apm/in_gate/2025-09-02?tz=UTC"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("gatecam_session=")
    assert TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    # The browser follows with its cookie: the page and its images load without the token.
    page = guarded.get(answer.headers["location"])
    assert page.status_code == 200 and "in_gate" in page.text
    assert guarded.get("/api/stats").status_code == 200


def test_a_session_cannot_be_forged_from_the_token(guarded: httpx.Client) -> None:
    for value in [TOKEN, "web", "web.AAAA.BBBB"]:
        guarded.cookies.set("gatecam_session", value)
        assert guarded.get("/api/stats").status_code == 401, value
    # Nor does an address starting with // send the browser to another site.
    conn = http.client.HTTPConnection(guarded.base_url.host, guarded.base_url.port, timeout=10)
    try:
        conn.request("GET", f"//evil.example/x?token={TOKEN}")
        away = conn.getresponse()
        assert away.status == 303 and away.getheader("location") == "/evil.example/x"
    finally:
        conn.close()


def test_the_session_cookie_is_secure_behind_https(guarded: httpx.Client) -> None:
    # A reverse proxy on this host terminating TLS says so; uvicorn trusts 127.0.0.1.
    https = {"X-Forwarded-Proto": "https"}
    answer = guarded.get("/", params={"token": TOKEN}, headers=https)
    assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


def test_guarded_images_are_cached_privately(
    guarded: httpx.Client, database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    image_id = archive[local("10:02")]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in [f"/image/{image_id}", f"/image/{image_id}/thumb"]:
        response = guarded.get(path, headers=bearer)
        assert response.status_code == 200
        assert response.headers["cache-control"].startswith("private"), path
        assert "public" not in response.headers["cache-control"]
    with WebServer(create_app(Archive(database, LocalStore(tmp_path / "images")))) as web:
        assert "public" in httpx.get(f"{web.url}/image/{image_id}").headers["cache-control"]


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_every_answer_carries_the_security_headers(
    guarded: httpx.Client, archive: dict[datetime, int]
) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    image_id = archive[local("10:02")]
    answers = {
        "page": guarded.get("/", headers=bearer),
        "image": guarded.get(f"/image/{image_id}", headers=bearer),
        "api": guarded.get("/api/stats", headers=bearer),
        "health": guarded.get("/healthz"),
        "401": guarded.get("/api/stats"),
        "303": guarded.get("/", params={"token": TOKEN}),
        "404": guarded.get("/nowhere/at/all", headers=bearer),
        "400": guarded.get("/api/images", params={"limit": "0"}, headers=bearer),
        "405": guarded.post("/api/stats", headers=bearer),
    }
    for name, answer in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers.get(header) == value, (name, header)
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, name


def test_a_method_not_allowed_says_which_are(guarded: httpx.Client) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for method, path in [("TRACE", "/api/stats"), ("POST", "/image/1"), ("DELETE", "/healthz")]:
        answer = guarded.request(method, path, headers=bearer)
        assert answer.status_code == 405, (method, path)
        assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_unauthorized_answers_are_json_where_documented(guarded: httpx.Client) -> None:
    for path in ["/image/1", "/image/1/thumb", "/metrics", "/api/stats"]:
        answer = guarded.get(path)
        assert answer.status_code == 401 and answer.headers["content-type"] == "application/json"
        assert answer.json() == {"error": "a token is needed (Authorization: Bearer)"}
    page = guarded.get("/")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/plain")


def test_api_dates_and_cursors_at_their_edges(guarded: httpx.Client) -> None:
    guarded.headers["Authorization"] = f"Bearer {TOKEN}"
    far = guarded.get("/api/coverage", params={"to": "0001-01-01"})
    assert far.status_code == 400
    assert far.json() == {"error": "from and to must be dates between 1970 and 2999"}
    backwards = guarded.get("/api/images", params={"from": "2025-09-03", "to": "2025-09-02"})
    assert backwards.status_code == 400
    assert backwards.json() == {"error": "from 2025-09-03 is after to 2025-09-02"}
    reversed_days = guarded.get("/api/coverage", params={"from": "2025-09-03", "to": "2025-09-02"})
    assert reversed_days.json() == {"error": "from 2025-09-03 is after to 2025-09-02"}
    # Schema-valid requests: an empty cursor is the first page, a future day alone is a report.
    first = guarded.get("/api/images", params={"cursor": "", "limit": "5"})
    assert first.status_code == 200
    assert first.json()["items"] == guarded.get("/api/images?limit=5").json()["items"]
    future = guarded.get("/api/coverage", params={"from": "2999-01-01"})
    assert future.status_code == 200
    assert (future.json()["from"], future.json()["to"]) == ("2999-01-01", "2999-01-01")
    long_name = guarded.get("/api/images", params={"terminal": "a" * 65})
    assert long_name.status_code == 400
