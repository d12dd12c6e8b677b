"""Image URLs carry the bytes' hash, so a restore that gives an id to another image shows it."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import delete, select

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.model import ImageRecord, ImageRef
from gatecam.storage import LocalStore
from gatecam.storage.local import write_atomic
from gatecam.web import create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import image_path
from tests.web.conftest import jpeg, local

FIRST, SECOND = local("10:02"), local("10:12")


def _store(db: Database, root: Path, ts: datetime, data: bytes) -> int:
    """Write an image and its row with its sha256, as the downloader does; its id."""
    path = image_path(root, ImageRef("apm", "in_gate", ts))
    write_atomic(path, data)
    record = ImageRecord(
        "apm",
        "in_gate",
        path.relative_to(root).as_posix(),
        ts,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    with db.session_scope() as session:
        queries.insert_images(session, [record])
        return int(session.scalars(select(Image.id).where(Image.timestamp == ts)).one())


def _src(html: str, thumb: bool = False) -> str:
    pattern = r'<img src="(/image/\d+/thumb[^"]*)"' if thumb else r'<img src="(/image/\d+[^/"]*)"'
    [url] = re.findall(pattern, html)
    return url.replace("&amp;", "&")


def _get(root: Path, db: Database, *paths: str, **headers: str) -> list[httpx.Response]:
    # A new app for each round, as after a restart on the restored database: no page cached.
    app = create_app(Archive(db, LocalStore(root)))

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return [await client.get(path, headers=headers) for path in paths]

    return asyncio.run(ask())


def _at(ts: datetime) -> str:
    return f"/at?terminal=apm&stream=in_gate&time={ts.isoformat().replace('+', '%2B')}"


@sqlite_only
def test_after_a_restore_gives_an_id_to_another_image_no_stale_picture_is_kept(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "images"
    old, new = jpeg(1), jpeg(2)
    image_id = _store(database, root, FIRST, old)
    page, day = _get(root, database, _at(FIRST), "/apm/in_gate/2025-09-02")
    before, thumb_before = _src(page.text), _src(day.text, thumb=True)
    assert before == f"/image/{image_id}?v={hashlib.sha256(old).hexdigest()[:16]}"
    [kept] = _get(root, database, before)
    assert kept.content == old and "immutable" in kept.headers["cache-control"]

    # The restore: the row goes, and the same id comes back naming another image.
    with database.session_scope() as session:
        session.execute(delete(Image).where(Image.id == image_id))
    assert _store(database, root, SECOND, new) == image_id
    page, day = _get(root, database, _at(SECOND), "/apm/in_gate/2025-09-02")
    after, thumb_after = _src(page.text), _src(day.text, thumb=True)

    assert after != before and thumb_after != thumb_before
    assert after.startswith(f"/image/{image_id}?v=")
    stale, stale_thumb, fresh = _get(root, database, before, thumb_before, after)
    # The old URL is answered with the new bytes, never as something to keep for good.
    assert stale.content == new
    assert stale.headers["cache-control"] == "public, no-cache"
    assert "immutable" not in stale_thumb.headers["cache-control"]
    assert fresh.content == new and "immutable" in fresh.headers["cache-control"]
    # A browser holding the old picture under its old tag is sent the new one.
    [asked] = _get(root, database, before, **{"If-None-Match": kept.headers["etag"]})
    assert asked.status_code == 200 and asked.content == new


@sqlite_only
def test_without_the_right_version_an_image_is_revalidated_by_its_etag(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "images"
    data = jpeg(3)
    sha = hashlib.sha256(data).hexdigest()
    image_id = _store(database, root, FIRST, data)
    for path in (f"/image/{image_id}", f"/image/{image_id}?v=0123456789abcdef"):
        [answer] = _get(root, database, path)
        assert answer.status_code == 200 and answer.content == data
        assert answer.headers["cache-control"] == "public, no-cache"
        assert answer.headers["etag"] == f'"{sha[:32]}"'
        [again] = _get(root, database, path, **{"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["cache-control"] == "public, no-cache"
    [right] = _get(root, database, f"/image/{image_id}?v={sha[:16]}")
    assert right.headers["cache-control"] == "public, max-age=31536000, immutable"
    [api] = _get(root, database, f"/api/images/{image_id}")
    assert api.json()["url"] == f"/image/{image_id}?v={sha[:16]}"
    assert api.json()["thumb_url"] == f"/image/{image_id}/thumb?v={sha[:16]}"
