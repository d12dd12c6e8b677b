"""Cheap reads: the web answers beside a writer, repeated images are 304, thumbnails are kept."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import httpx

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.archive_queries import accept_bytes
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.model import ImageRef
from gatecam.storage import LocalStore
from gatecam.storage.base import image_key
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.web.conftest import IN_GATE, local

READS = ["/", "/api/stats", "/api/images?limit=100", "/healthz", "/metrics", "/api/coverage"]


@sqlite_only
def test_the_web_answers_while_the_job_holds_a_write_transaction(
    database_url: str, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    # Half a second of busy timeout: a reader that wanted the write lock would get
    # "database is locked" (a 503) in that time, instead of the default 30 s wait.
    reader = Database(f"{database_url}?timeout=0.5")
    writer = Database(database_url)
    try:
        app = create_app(Archive(reader, LocalStore(tmp_path / "images")))
        with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=10) as http:
            with writer.session_scope() as session:
                # The job mid-batch: rows written, transaction open, write lock held.
                record = ImageRecord("apm", "in_gate", "apm/in_gate/x.jpg", local("23:59"), 1)
                queries.insert_images(session, [record])
                answers = {path: http.get(path) for path in READS}
            # /healthz is 503 for the fixture's failed out_gate run, but its database is up.
            assert answers.pop("/healthz").json()["database"] == "ok"
            assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(answers, 200)
            # They read the committed archive, not the open batch.
            assert answers["/api/stats"].json()["apm"]["total_downloaded"] == len(archive)
    finally:
        reader.dispose()
        writer.dispose()


@sqlite_only
def test_a_repeated_image_request_is_a_304_without_the_bytes(
    client: httpx.Client, archive: dict[datetime, int], tmp_path: Path
) -> None:
    image_id = archive[IN_GATE[10]]
    for path in (f"/image/{image_id}", f"/image/{image_id}/thumb"):
        first = client.get(path)
        assert first.status_code == 200 and first.content
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        since = client.get(path, headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        other = client.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.content == first.content
    image_tag = client.get(f"/image/{image_id}").headers["etag"]
    assert client.get(f"/image/{image_id}/thumb").headers["etag"] != image_tag


@sqlite_only
def test_a_thumbnail_is_made_once_and_kept_on_disk(
    database: Database, archive: dict[datetime, int], tmp_path: Path
) -> None:
    image_id = archive[IN_GATE[3]]
    root = tmp_path / "images"
    # Kept by the sha256 of the image, as the downloader stores it with every row.
    data = (root / image_key(ImageRef("apm", "in_gate", IN_GATE[3]))).read_bytes()
    with database.session_scope() as session:
        accept_bytes(session, image_id, len(data), hashlib.sha256(data).hexdigest())
    with WebServer(create_app(Archive(database, LocalStore(root)))) as web:
        first = httpx.get(f"{web.url}/image/{image_id}/thumb")
    assert first.status_code == 200
    # The image file goes; a new server still has its thumbnail, made by the first one.
    with database.read_scope() as session:
        row = queries.expired_images(session, "apm", "in_gate", IN_GATE[4])
    (root / dict(row)[image_id]).unlink()
    with WebServer(create_app(Archive(database, LocalStore(root)))) as web:
        again = httpx.get(f"{web.url}/image/{image_id}/thumb")
        assert httpx.get(f"{web.url}/image/{image_id}").status_code == 404
    assert again.status_code == 200 and again.content == first.content
    assert not any(p.name.endswith(".part") for p in (root / ".thumbs").rglob("*"))


@sqlite_only
def test_the_page_shows_what_was_stored_since_it_was_last_drawn(
    client: httpx.Client, database: Database
) -> None:
    assert "side_gate" not in client.get("/").text
    assert "side_gate" not in client.get("/").text  # drawn once, then reused
    with database.session_scope() as session:
        record = ImageRecord("apm", "side_gate", "apm/side_gate/x.jpg", local("10:00"), 1)
        queries.insert_images(session, [record])
    assert "side_gate" in client.get("/").text
