"""A day still open is encoded when its page asks, with its progress told, then kept."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import av
import httpx

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.days import day_bounds
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.web.conftest import DAY, LA, index, write


def until(check: Callable[[], dict[str, object] | None], seconds: float = 60) -> dict[str, object]:
    """The first answer ``check`` gives that is not None, asked again until ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = check()
        if answer is not None:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"no answer in {seconds} s")


@sqlite_only
def test_an_open_day_tells_how_far_its_encode_is_then_serves_the_kept_file(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "images"
    now = datetime.now(UTC)
    today = now.astimezone(LA).date()
    start, _ = day_bounds(today, LA)
    # Three images so far today, wherever in the day now is.
    times = [start + (now - start) * part for part in (0.25, 0.5, 0.75)]
    write(root, "in_gate", times)
    index(database, root, "in_gate", times)
    path = f"/apm/in_gate/{today}"
    app = create_app(Archive(database, LocalStore(root)))
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=30) as client:
        page = client.get(path).text
        assert f'data-progress="{path}/timelapse.json"' in page
        assert 'id="video-progress"' in page and "/static/timelapse.js?v=" in page

        first = client.get(f"{path}/timelapse.json").json()
        assert first["state"] == "encoding" and first["total"] == 3
        assert 0 <= first["done"] <= 3 and first["src"] == f"{path}/timelapse.mp4"

        def ready() -> dict[str, object] | None:
            answer: dict[str, object] = client.get(f"{path}/timelapse.json").json()
            assert answer["state"] in ("encoding", "ready"), answer
            return answer if answer["state"] == "ready" else None

        until(ready)
        kept = tmp_path / "images" / ".timelapse" / "apm" / "in_gate" / f"{today}.mp4"
        video = client.get(f"{path}/timelapse.mp4")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        # The kept file, whole, not an encode sent as it is made.
        assert video.content == kept.read_bytes()
        assert video.headers["content-length"] == str(kept.stat().st_size)
        with av.open(io.BytesIO(video.content)) as container:
            assert sum(1 for _ in container.decode(video=0)) >= 3
        # Another zone's day is not the kept one: it is played as it is encoded.
        other = client.get(f"{path}/timelapse.json", params={"tz": "UTC"}).json()
        assert other["state"] == "stream" and other["src"] == f"{path}/timelapse.mp4?tz=UTC"
        # Asked by a script: its errors are JSON too.
        none = client.get("/apm/in_gate/2024-01-01/timelapse.json")
        assert none.status_code == 404
        assert none.json() == {
            "error": "apm/in_gate has no images on 2024-01-01 to make a video of"
        }


@sqlite_only
def test_a_video_that_cannot_be_kept_is_played_as_it_is_encoded(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    root = tmp_path / "images"
    (root / ".timelapse").write_text("not a folder")  # nowhere to keep the video
    app = create_app(Archive(database, LocalStore(root)))
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=30) as client:
        progress = f"{DAY}/timelapse.json"
        assert client.get(progress).json()["state"] == "encoding"

        def settled() -> dict[str, object] | None:
            answer: dict[str, object] = client.get(progress).json()
            return None if answer["state"] == "encoding" else answer

        answer = until(settled)
        assert answer["state"] == "stream" and answer["src"] == f"{DAY}/timelapse.mp4"
        assert str(answer["reason"]).startswith("cannot keep it: ")
        # And the other days are not held up behind it.
        other = client.get("/apm/out_gate/2025-09-02/timelapse.json").json()
        assert other["state"] == "encoding"
        video = client.get(f"{DAY}/timelapse.mp4")
        assert video.status_code == 200 and "content-length" not in video.headers
