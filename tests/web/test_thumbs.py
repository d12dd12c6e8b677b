"""Thumbnails follow the image a row names, even when a restored database reuses its id."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.model import ImageRef
from gatecam.storage import LocalStore
from gatecam.storage.base import image_key
from gatecam.storage.local import write_atomic
from gatecam.web import WebServer, create_app
from gatecam.web.thumbs import make_thumbnail
from tests.web.conftest import local

RED, BLUE = (220, 20, 20), (20, 20, 220)


def picture(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 36), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def colour_of(jpeg: bytes) -> tuple[int, int, int]:
    with PILImage.open(io.BytesIO(jpeg)) as image:
        r, g, b = image.convert("RGB").resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    return r, g, b


def near(found: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 30 for a, b in zip(found, wanted, strict=True))


def store(root: Path, hhmm: str, data: bytes) -> str:
    key = image_key(ImageRef("apm", "in_gate", local(hhmm)))
    write_atomic(root / key, data)
    return key


def give_id_to(db: Database, image_id: int, key: str, data: bytes, hashed: bool) -> None:
    """What a restore and `verify --repair` can do: the id now names another image's row."""
    with db.session_scope() as session:
        old = session.get(Image, image_id)
        assert old is not None
        session.delete(old)
        session.flush()
        session.add(
            Image(
                id=image_id,
                terminal="apm",
                camera_id="in_gate",
                filepath=key,
                timestamp=local("12:00"),
                file_size=len(data),
                sha256=hashlib.sha256(data).hexdigest() if hashed else None,
            )
        )


@pytest.mark.parametrize("hashed", [True, False], ids=["rows-with-sha256", "rows-without"])
def test_a_reused_id_shows_the_thumbnail_of_its_new_image(
    database: Database, tmp_path: Path, hashed: bool
) -> None:
    root = tmp_path / "images"
    red, blue = picture(RED), picture(BLUE)
    red_key, blue_key = store(root, "10:00", red), store(root, "12:00", blue)
    sha = hashlib.sha256(red).hexdigest() if hashed else None
    with database.session_scope() as session:
        queries.insert_images(
            session, [ImageRecord("apm", "in_gate", red_key, local("10:00"), len(red), sha)]
        )
        [image_id] = [row.id for row in session.query(Image)]

    def thumb_from_a_new_server() -> bytes:
        with WebServer(create_app(Archive(database, LocalStore(root)))) as web:
            response = httpx.get(f"{web.url}/image/{image_id}/thumb")
        assert response.status_code == 200
        return response.content

    app = create_app(Archive(database, LocalStore(root)))
    with WebServer(app) as web, httpx.Client(base_url=web.url) as client:
        first = client.get(f"/image/{image_id}/thumb")
        assert first.status_code == 200, first.text
        assert near(colour_of(first.content), RED)
        give_id_to(database, image_id, blue_key, blue, hashed)
        # The same server (its memory) and a browser asking again with the old validator.
        again = client.get(
            f"/image/{image_id}/thumb", headers={"If-None-Match": first.headers["etag"]}
        )
    assert again.status_code == 200 and again.content == make_thumbnail(blue)
    assert near(colour_of(again.content), BLUE)
    # A server started later (the thumbnails kept on disk) shows the new image too.
    assert thumb_from_a_new_server() == make_thumbnail(blue)
