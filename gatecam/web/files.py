"""The bytes the web app serves as they are stored: images, their thumbnails, static files."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gatecam.database import browse
from gatecam.web import conditional, imageurls, render
from gatecam.web.common import Archive
from gatecam.web.thumbs import is_sha256, make_thumbnail

log = logging.getLogger(__name__)

# Served from a cache only once the server says the bytes are still those (ETag).
NO_CACHE = "public, no-cache"


@dataclass(frozen=True)
class _Stored:
    """What serving an image needs of its row: where its bytes are and their validators."""

    key: str
    etag: str
    modified: datetime | None
    sha256: str | None


def _stored(archive: Archive, image_id: int) -> _Stored:
    """The row of an image, by primary key; HTTPException 404 if there is none."""
    with archive.db.read_scope() as session:
        row = browse.image(session, image_id)
        if row is None:
            raise HTTPException(404, "no such image")
        sha256 = row.sha256.lower() if row.sha256 and is_sha256(row.sha256.lower()) else None
        # The sha256 names the bytes. A row stored without one is told apart by when it was
        # stored too: a restored database may give its id to another image of the same size.
        made = int(row.created_at.timestamp() * 1e6) if row.created_at else 0
        tag = sha256[:32] if sha256 else f"{row.id}-{row.file_size}-{made}"
        return _Stored(row.filepath, f'"{tag}"', row.created_at, sha256)


def _read(archive: Archive, key: str) -> bytes:
    """The stored bytes of an image; HTTPException 404 if they are gone."""
    try:
        return archive.store.get(key)
    except (FileNotFoundError, IsADirectoryError, ValueError):
        # ValueError: a row whose key would leave the store (LocalStore refuses it).
        raise HTTPException(404, "no such image") from None
    except OSError as exc:
        log.warning("web: cannot read image %s: %s", key, exc)
        raise HTTPException(503, f"cannot read the image: {exc.strerror or exc}") from None


def _cache_policy(request: Request, stored: _Stored) -> str:
    """Kept for good only at the URL that names the bytes: an id alone may name others later.

    After a database restore an id can name another image; a browser that kept the id's old
    answer for a year would show the old picture. Without the right ``v`` it asks again
    every time, and the ETag (from the sha256) makes that a 304 while the bytes are the same.
    """
    v = imageurls.version(stored.sha256)
    # Both "public": a guarded server's middleware makes them "private".
    return (
        conditional.IMMUTABLE if v is not None and request.query_params.get("v") == v else NO_CACHE
    )


def _answer(request: Request, stored: _Stored, etag: str) -> tuple[Response | None, dict[str, str]]:
    """A 304 if the client holds the bytes under ``etag``, and the headers to send either way."""
    headers = conditional.validators(etag, stored.modified)
    headers["Cache-Control"] = _cache_policy(request, stored)
    cached = conditional.not_modified(request, etag, stored.modified)
    if cached is not None:
        cached.headers.update(headers)
    return cached, headers


def image(archive: Archive, request: Request) -> Response:
    stored = _stored(archive, request.path_params["id"])
    cached, headers = _answer(request, stored, stored.etag)
    if cached is not None:
        return cached  # the client holds these bytes: no read from the store at all
    return Response(_read(archive, stored.key), media_type="image/jpeg", headers=headers)


def thumbnail(archive: Archive, request: Request) -> Response:
    image_id: int = request.path_params["id"]
    stored = _stored(archive, image_id)
    # Its own tag: a thumbnail's bytes are not the image's.
    cached, headers = _answer(request, stored, f'"thumb-{stored.etag.strip(chr(34))}"')
    if cached is not None:
        return cached

    original: bytes | None = None
    sha256 = stored.sha256
    if sha256 is None:
        # Rows from before hashes were stored: the bytes name their thumbnail, never the id.
        original = _read(archive, stored.key)
        sha256 = hashlib.sha256(original).hexdigest()

    def make() -> bytes:
        try:
            return make_thumbnail(original if original is not None else _read(archive, stored.key))
        except ValueError as exc:
            raise HTTPException(404, f"no thumbnail: {exc}") from None

    data = archive.thumbs.get(sha256, make)
    return Response(data, media_type="image/jpeg", headers=headers)


def static_file(archive: Archive, request: Request) -> Response:
    """The page's stylesheet and scripts; their URLs name their version, so they never change."""
    asset = render.assets().get(request.path_params["name"])
    if asset is None:
        raise HTTPException(404)
    etag = f'"{asset.version}"'
    cached = conditional.not_modified(request, etag, None)
    if cached is not None:
        return cached
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={"ETag": etag, "Cache-Control": conditional.IMMUTABLE},
    )
