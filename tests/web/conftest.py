"""Shared by the web tests: an archive of real files and rows on SQLite and PostgreSQL, served."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.model import ImageRef
from gatecam.storage import LocalStore
from gatecam.storage.local import write_atomic
from gatecam.web import WebServer, create_app
from tests.helpers import image_path

LA = ZoneInfo("America/Los_Angeles")
DAY = "/apm/in_gate/2025-09-02"
DAY = "/apm/in_gate/2025-09-02"


def local(hhmm: str, day: int = 2) -> datetime:
    """A capture time given as Los Angeles wall-clock time in September 2025."""
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2025, 9, day, hour, minute, tzinfo=LA).astimezone(UTC)


def jpeg(n: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 18), (n % 256, n // 256 % 256, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def write(root: Path, stream: str, times: list[datetime]) -> None:
    """Write the images the way the downloader does."""
    for n, ts in enumerate(times):
        write_atomic(image_path(root, ImageRef("apm", stream, ts)), jpeg(n))


def index(db: Database, root: Path, stream: str, times: list[datetime]) -> dict[datetime, int]:
    """Insert the rows of written images the way the downloader does; their ids by time."""
    records = []
    for ts in times:
        path = image_path(root, ImageRef("apm", stream, ts))
        rel = path.relative_to(root).as_posix()
        records.append(ImageRecord("apm", stream, rel, ts, path.stat().st_size))
    with db.session_scope() as session:
        queries.insert_images(session, records)
        rows = session.execute(
            select(Image.timestamp, Image.id).where(Image.camera_id == stream)
        ).all()
    return {ts: image_id for ts, image_id in rows if ts is not None}


# In-gate images at :02, :12, ... :52 all through Tuesday 2 September in Los Angeles, which
# is 07:00 UTC on the 2nd to 07:00 UTC on the 3rd, except none from 14:02 to 14:49; and one
# just before and one just after that local day.
GAP_GONE = {local(f"14:{m}") for m in (12, 22, 32, 42)}
IN_GATE = sorted(
    {local(f"{h:02d}:{m:02d}") for h in range(24) for m in range(2, 60, 10)} - GAP_GONE
    | {local("14:49"), local("23:58", day=1), local("00:01", day=3)}
)
OUT_GATE = [local("09:00"), local("09:10")]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image files, written once (each write fsyncs); every test gets its own tree."""
    root = tmp_path_factory.mktemp("pristine")
    write(root, "in_gate", IN_GATE)
    write(root, "out_gate", OUT_GATE)
    return root


@pytest.fixture
def archive(database: Database, tmp_path: Path, pristine: Path) -> dict[datetime, int]:
    root = tmp_path / "images"
    # Hard links: a test may delete or add files, never change one in place.
    shutil.copytree(pristine, root, copy_function=os.link)
    ids = index(database, root, "in_gate", IN_GATE) | index(database, root, "out_gate", OUT_GATE)
    with database.session_scope() as session:
        run = queries.start_run(session, "apm", "out_gate", ["2025-09-02"])
        queries.finish_run(
            session,
            run,
            status="failed",
            discovered=0,
            downloaded=0,
            failed=0,
            pending=0,
            error="camera page said <b>503</b>",
        )
    return ids


@pytest.fixture
def client(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> Iterator[httpx.Client]:
    with (
        WebServer(create_app(Archive(database, LocalStore(tmp_path / "images")))) as web,
        httpx.Client(base_url=web.url, timeout=10) as http,
    ):
        yield http
