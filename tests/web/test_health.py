"""/healthz, /metrics, the token and the server's own errors, over real HTTP."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.downloader import metrics
from gatecam.storage import LocalStore
from gatecam.web import ServeError, WebServer, create_app


def record_run(db: Database, stream: str, status: str, ended: datetime) -> None:
    with db.session_scope() as session:
        run = queries.start_run(session, "apm", stream, [f"{ended:%Y-%m-%d}"], at=ended)
        queries.finish_run(
            session, run, status=status, discovered=1, downloaded=1, failed=0, pending=0,
            error=None if status == "success" else "page did not load", at=ended,
        )  # fmt: skip


def record_image(db: Database, stream: str, captured: datetime) -> None:
    """An image of ``stream``: a camera that published lately is not silent."""
    key = f"apm/{stream}/{captured:%Y-%m-%d/%H%M%S}.jpg"
    with db.session_scope() as session:
        queries.insert_images(session, [ImageRecord("apm", stream, key, captured, 100)])


TOKEN = "s3cret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def serve(db: Database, tmp_path: Path, **options: object) -> WebServer:
    return WebServer(create_app(Archive(db, LocalStore(tmp_path)), **options))  # type: ignore[arg-type]


def test_healthz_is_200_while_every_stream_ran_well_lately(
    database: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    record_run(database, "in_gate", "success", now - timedelta(minutes=5))
    record_run(database, "out_gate", "success", now - timedelta(minutes=25))
    record_image(database, "in_gate", now - timedelta(minutes=8))
    record_image(database, "out_gate", now - timedelta(minutes=80))
    with serve(database, tmp_path, interval_minutes=10) as web:
        response = httpx.get(f"{web.url}/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["reason"] is None
    assert body["streams"] == [
        {"terminal": "apm", "stream": "in_gate", "state": "ok"},
        {"terminal": "apm", "stream": "out_gate", "state": "ok"},
    ]


def test_healthz_is_503_with_the_reason_when_a_stream_went_stale(
    database: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    record_run(database, "in_gate", "success", now - timedelta(minutes=5))
    record_run(database, "out_gate", "success", now - timedelta(minutes=45))
    record_run(database, "out_gate", "failed", now - timedelta(minutes=2))
    record_run(database, "side_gate", "failed", now - timedelta(minutes=2))
    record_image(database, "in_gate", now - timedelta(minutes=9))
    with serve(database, tmp_path, interval_minutes=10, token=TOKEN) as web:
        response = httpx.get(f"{web.url}/healthz", headers=BEARER)
    assert response.status_code == 503
    reason = response.json()["reason"]
    assert "apm/out_gate: no run ended well for 45 min (limit 30 min)" in reason
    assert "apm/side_gate: no run has ended well yet; latest run: page did not load" in reason
    assert "in_gate" not in reason


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database, only text" * 100)
    db = Database(f"sqlite:///{broken}")
    try:
        with serve(db, tmp_path, token=TOKEN) as web:
            response = httpx.get(f"{web.url}/healthz", headers=BEARER)
            short = httpx.get(f"{web.url}/healthz")
            page = httpx.get(f"{web.url}/", headers=BEARER)
    finally:
        db.dispose()
    assert response.status_code == 503
    assert response.json()["reason"].startswith("database: file is not a database")
    assert page.status_code == 503 and "database error" in page.text
    assert short.status_code == 503
    assert short.json() | {"version": None} == {
        "status": "unhealthy",
        "database": "down",
        "streams": [],
        "reason": "database_down",
        "version": None,
    }


def record_failure(db: Database, stream: str, ended: datetime, error: str, stored: int) -> None:
    with db.session_scope() as session:
        run = queries.start_run(session, "apm", stream, [f"{ended:%Y-%m-%d}"], at=ended)
        queries.finish_run(
            session, run, status="failed" if not stored else "partial", discovered=3,
            downloaded=stored, failed=3 - stored, pending=0, error=error, at=ended,
        )  # fmt: skip


# What run errors can hold: the site's and CDN's addresses, archive paths, database hosts.
SECRETS = [
    "https://",
    "cdn.example.net",
    "/srv/gatecam/images",
    "db.internal",
    "5432",
    "Read-only",
]
ERROR = (
    "3 downloads failed, first at https://cdn.example.net/apm/in_gate/x.jpg: "
    "[Errno 30] Read-only file system: '/srv/gatecam/images/apm/in_gate/2025/x.jpg'"
)
NEVER = 'connection to server at "db.internal" (10.0.0.7), port 5432 failed'


def test_healthz_tells_codes_without_the_token_and_reasons_with_it(
    database: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    record_run(database, "in_gate", "success", now - timedelta(minutes=5))
    record_failure(database, "in_gate", now - timedelta(minutes=1), ERROR, stored=0)
    record_run(database, "out_gate", "success", now - timedelta(minutes=45))
    record_failure(database, "side_gate", now - timedelta(minutes=2), NEVER, stored=0)
    record_run(database, "east_gate", "success", now - timedelta(minutes=3))
    for stream in ("east_gate", "in_gate", "out_gate", "side_gate"):
        record_image(database, stream, now - timedelta(minutes=6))
    codes = [
        {"terminal": "apm", "stream": "east_gate", "state": "ok"},
        {"terminal": "apm", "stream": "in_gate", "state": "failing"},
        {"terminal": "apm", "stream": "out_gate", "state": "stale"},
        {"terminal": "apm", "stream": "side_gate", "state": "failing"},
    ]
    with serve(database, tmp_path) as open_web, serve(database, tmp_path, token=TOKEN) as web:
        anyone = httpx.get(f"{open_web.url}/healthz")  # no token set: anyone may ask
        stranger = httpx.get(f"{web.url}/healthz")
        wrong = httpx.get(f"{web.url}/healthz", headers={"Authorization": "Bearer nope"})
        holder = httpx.get(f"{web.url}/healthz", headers=BEARER)
        with httpx.Client(base_url=web.url, follow_redirects=True) as browser:
            assert browser.get("/", params={"token": TOKEN}).status_code == 200
            session = browser.get("/healthz")  # the session cookie counts as the token
    for short in (anyone, stranger, wrong):
        assert short.status_code == 503
        body = short.json()
        assert (body["status"], body["database"], body["streams"]) == ("unhealthy", "ok", codes)
        assert body["reason"] == "apm/in_gate: failing; apm/out_gate: stale; apm/side_gate: failing"
        assert not [secret for secret in SECRETS if secret in short.text], short.text
    for full in (holder, session):
        assert full.status_code == 503
        reason = full.json()["reason"]
        assert "apm/in_gate: the latest run stored none of the images it lacked" in reason
        assert ERROR in reason and NEVER in reason
        assert "apm/out_gate: no run ended well for 45 min (limit 30 min)" in reason
        out_gate = full.json()["streams"][2]
        assert (out_gate["state"], out_gate["since"]) == (
            "stale",
            (now - timedelta(minutes=45)).isoformat(),
        )


def test_the_token_guards_all_but_healthz(database: Database, tmp_path: Path) -> None:
    with serve(database, tmp_path, token="s3cret") as web:
        for path in ["/", "/api/stats", "/metrics", "/openapi.json", "/image/1"]:
            response = httpx.get(f"{web.url}{path}")
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
        assert (
            httpx.get(f"{web.url}/api/stats", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        assert httpx.get(f"{web.url}/healthz").status_code == 200
        ok = httpx.get(f"{web.url}/api/stats", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        # A page opened with ?token= hands the browser a cookie for its images and links.
        with httpx.Client(base_url=web.url, follow_redirects=True) as browser:
            assert browser.get("/", params={"token": "s3cret"}).status_code == 200
            assert browser.get("/api/stats").status_code == 200


def test_metrics_report_this_process_and_the_archive(database: Database, tmp_path: Path) -> None:
    record_run(database, "in_gate", "success", datetime(2025, 9, 2, 12, 0, tzinfo=UTC))
    metrics.download_finished("apm", "in_gate", "downloaded", 3)
    metrics.cdn_response(1234)
    # The run is long past: only a stream the server is told to judge keeps its gauges.
    with serve(database, tmp_path, streams=[("apm", "in_gate")]) as web:
        response = httpx.get(f"{web.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'gatecam_downloads_total{outcome="downloaded",stream="in_gate",terminal="apm"}' in text
    assert "gatecam_cdn_bytes_total" in text
    assert "gatecam_archive_database_up 1.0" in text
    line = 'gatecam_archive_last_success_timestamp_seconds{stream="in_gate",terminal="apm"}'
    value = next(v for k, v in (ln.rsplit(" ", 1) for ln in text.splitlines()) if k == line)
    assert float(value) == datetime(2025, 9, 2, 12, tzinfo=UTC).timestamp()


def test_a_taken_or_impossible_port_is_one_clean_error(database: Database) -> None:
    app = create_app(Archive(database, LocalStore(".")))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            ServeError, match=re.escape(f"cannot listen on 127.0.0.1:{port}: Address")
        ):
            WebServer(app, "127.0.0.1", port)
    with pytest.raises(
        OSError, match=re.escape("cannot listen on 127.0.0.1:99999: a port is a number")
    ):
        WebServer(app, "127.0.0.1", 99999)
    with pytest.raises(ServeError) as caught:
        WebServer(app, "no-such-host.invalid", 0)
    assert caught.value.strerror and "\n" not in str(caught.value)
