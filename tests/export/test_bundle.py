"""`gatecam export` and the day page's downloads: originals with a manifest, and a timelapse."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from gatecam.archive import Archive
from gatecam.camerahealth import measure
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.missed import Miss, record_misses
from gatecam.database.queries import ImageRecord
from gatecam.export.daily import render_finished_days
from gatecam.export.selection import Contents, Selection
from gatecam.export.timelapse import CAPTION_HEIGHT, SIZE, caption_band, caption_text
from gatecam.model import ImageRef
from gatecam.sources.draydog.standin.images import render_jpeg
from gatecam.storage import LocalStore, image_key
from gatecam.upkeep.verify import verify_archive
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import run_main

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2025, 9, 2, 15, 0, 7, tzinfo=UTC)  # 08:00:07 in Los Angeles
# Every 10 minutes from 08:00 to 11:10 local time, none from 08:50 to 09:30 (a 40 min gap),
# and the stand-in's frozen stretch (16:00 to 17:00 UTC) in between.
TIMES = [START + timedelta(minutes=10 * n) for n in range(20) if not 6 <= n <= 8]
# The day in Los Angeles ends at 07:00 UTC on the 3rd: the silence after the last image is
# the second gap. One image of the next local day must stay out.
OUTSIDE = datetime(2025, 9, 3, 7, 30, tzinfo=UTC)


@pytest.fixture
def archive(database: Database, tmp_path: Path) -> tuple[str, Path]:
    """Stand-in images in a folder with their rows (and figures), as the downloader leaves them."""
    root = tmp_path / "images"
    store = LocalStore(root)
    records = []
    for ts in [OUTSIDE, *TIMES]:
        key = image_key(ImageRef("apm", "in_gate", ts))
        data = render_jpeg("apm", "in_gate", ts, thumbnail=False)
        store.put(key, data)
        figures = measure(data)
        assert figures is not None
        digest = hashlib.sha256(data).hexdigest()
        records.append(ImageRecord("apm", "in_gate", key, ts, len(data), digest, False, *figures))
    with database.session_scope() as session:
        queries.insert_images(session, records)
    return database.url, root


def export(capsys: pytest.CaptureFixture[str], url: str, root: Path, *args: str) -> str:
    code, out, err = run_main(
        capsys, "export", "--database-url", url, "--download-dir", str(root), *args
    )
    assert code == 0, err
    return out


@sqlite_only
@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_export_holds_the_originals_and_a_manifest(
    capsys: pytest.CaptureFixture[str], archive: tuple[str, Path], tmp_path: Path, fmt: str
) -> None:
    url, root = archive
    out_file = tmp_path / f"day.{fmt}"
    printed = export(
        capsys, url, root, "--stream", "apm/in_gate", "--date", "2025-09-02", "--out", str(out_file)
    )

    assert f"wrote {out_file}: 17 images and a manifest" in printed and "2 gaps" in printed
    if fmt == "tar":
        with tarfile.open(out_file) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    else:
        with zipfile.ZipFile(out_file) as zf:
            members = {name: zf.read(name) for name in zf.namelist()}
    images = sorted(name for name in members if name.endswith(".jpg"))
    assert images == [image_key(ImageRef("apm", "in_gate", ts)) for ts in TIMES]
    for name in images:
        assert members[name] == (root / name).read_bytes()

    rows = list(csv.DictReader(io.StringIO(members["manifest.csv"].decode())))
    first = rows[0]
    assert first["file"] == "apm/in_gate/2025-09-02/150007.jpg"
    assert first["captured_utc"] == "2025-09-02T15:00:07+00:00"
    assert first["captured_local"] == "2025-09-02T08:00:07-07:00"
    assert int(first["size"]) == len(members[first["file"]])
    assert first["sha256"] == hashlib.sha256(members[first["file"]]).hexdigest()
    # The frozen stretch's first image held (16:30 UTC) is taken as a picture; the next
    # ones repeat it.
    frozen = [r["captured_utc"][11:16] for r in rows if r["health"] == "frozen"]
    assert frozen == ["16:40", "16:50"]
    manifest = json.loads(members["manifest.json"])
    assert manifest["images"] == [{**r, "size": int(r["size"])} for r in rows]
    assert [(g["start_local"], g["end_local"], g["minutes"]) for g in manifest["gaps"]] == [
        ("2025-09-02T08:50:07-07:00", "2025-09-02T09:30:07-07:00", 40),
        ("2025-09-02T11:10:07-07:00", "2025-09-03T00:00:00-07:00", 769),
    ]
    gaps = list(csv.DictReader(io.StringIO(members["gaps.csv"].decode())))
    assert [g["minutes"] for g in gaps] == ["40", "769"]
    assert not (tmp_path / f"day.{fmt}.part").exists()


@sqlite_only
def test_a_missed_image_is_a_row_of_gaps_csv_and_counted_in_the_manifest(
    capsys: pytest.CaptureFixture[str],
    archive: tuple[str, Path],
    database: Database,
    tmp_path: Path,
) -> None:
    url, root = archive
    lost = datetime(2025, 9, 2, 16, 10, 7, tzinfo=UTC)  # 09:10 in Los Angeles, in the gap
    with database.session_scope() as session:
        miss = Miss(lost, "https://cdn.example/091007.jpg", "HTTP 503")
        record_misses(session, "apm", "in_gate", [miss], lost + timedelta(minutes=5))
    out_file = tmp_path / "day.zip"
    export(
        capsys, url, root, "--stream", "apm/in_gate", "--date", "2025-09-02", "--out", str(out_file)
    )
    with zipfile.ZipFile(out_file) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        rows = list(csv.DictReader(io.StringIO(zf.read("gaps.csv").decode())))

    # As `gatecam coverage` tells it: the site published the 09:10 image, so the stretch
    # without one ends there, and the image is missed, not a gap.
    # As `gatecam coverage` tells it: the site published the 09:10 image, so the 40 min
    # without one are two stretches of 20, no gap; the image is missed, apart from the gaps.
    assert [(r["kind"], r["start_local"], r["minutes"], r["reason"]) for r in rows] == [
        ("missed", "2025-09-02T09:10:07-07:00", "0", "HTTP 503"),
        ("not published", "2025-09-02T11:10:07-07:00", "769", ""),
    ]
    missed_row = rows[0]
    assert missed_row["url"] == "https://cdn.example/091007.jpg"
    assert missed_row["start_utc"] == missed_row["end_utc"] == "2025-09-02T16:10:07+00:00"
    assert manifest["missed"] == 1
    assert [(m["timestamp"], m["reason"]) for m in manifest["missed_images"]] == [
        ("2025-09-02T16:10:07+00:00", "HTTP 503")
    ]
    assert [g["kind"] for g in manifest["gaps"]] == ["not published"]


def caption_distance(frame: Image.Image, text: str) -> int:
    """Pixels of a frame's caption strip far from ``text`` drawn afresh as a caption.

    Compression blurs glyph edges a little; a different glyph is white where black was
    expected, so only differences over half the range count.
    """
    strip = frame.crop((0, SIZE[1] - CAPTION_HEIGHT, SIZE[0], SIZE[1])).convert("L")
    reference = caption_band(text).convert("L")
    far = ImageChops.difference(strip, reference).point(lambda v: 255 if v > 128 else 0)
    return int(ImageStat.Stat(far).sum[0] // 255)


@sqlite_only
def test_timelapse_has_a_captioned_frame_per_image_and_a_card_per_gap(
    capsys: pytest.CaptureFixture[str], archive: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = archive
    mp4 = tmp_path / "day.mp4"
    printed = export(
        capsys,
        url,
        root,
        "--timelapse",
        str(mp4),
        "--stream",
        "in_gate",
        "--date",
        "2025-09-02",
        "--fps",
        "6",
    )

    assert "17 images at 6 fps" in printed
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_image() for f in container.decode(stream)]
    # One frame per image, and each gap shown for a second (6 frames), not skipped.
    assert len(frames) == len(TIMES) + 2 * 6
    assert {f.size for f in frames} == {(1280, 720)}

    # The first frame's caption reads its capture time: it matches that caption drawn
    # afresh far better than the same caption a minute or a second off.
    contents = Contents(Selection("apm", "in_gate", TIMES[0].date(), TIMES[0].date(), LA), [], [])
    own = caption_distance(frames[0], caption_text(TIMES[0], contents))
    assert "08:00:07 -07:00  (15:00:07 UTC)" in caption_text(TIMES[0], contents)
    assert own < 20
    for wrong in (timedelta(minutes=1), timedelta(seconds=1), timedelta(hours=-1)):
        assert caption_distance(frames[0], caption_text(TIMES[0] + wrong, contents)) > 100
    # After the 08:50 image come the gap's card frames, then the 09:30 image.
    assert caption_distance(frames[5], caption_text(TIMES[5], contents)) < 20
    for card in frames[6:12]:
        top = ImageStat.Stat(card.crop((0, 0, SIZE[0], 300)).convert("L"))
        assert top.stddev[0] < 2  # a plain card, not a camera picture
    assert caption_distance(frames[12], caption_text(TIMES[6], contents)) < 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.rar", "--date", "2025-09-02"], "must end in .tar or .zip"),
        (["--timelapse", "x.mp4", "--date", "2025-09-02", "--fps", "0"], "fps must be 1 to 60"),
        (["--out", "x.tar", "--timelapse", "x.mp4", "--date", "2025-09-02"], "give one of"),
        (["--out", "x.tar"], "which days?"),
        (["--out", "x.tar", "--date", "2025-09-02", "--tz", "Mars/Olympus"], "--timezone: unknown"),
        (["--out", "x.tar", "--from", "2025-09-03", "--to", "2025-09-01"], "is after --to"),
    ],
)
def test_bad_export_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "export", "--stream", "in_gate", *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@sqlite_only
def test_an_unknown_stream_is_bad_input(
    capsys: pytest.CaptureFixture[str], archive: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = archive
    out_file = tmp_path / "x.tar"
    code, _, err = run_main(
        capsys,
        "export",
        "--database-url",
        url,
        "--download-dir",
        str(root),
        "--stream",
        "apm/out_gate",
        "--date",
        "2025-09-02",
        "--out",
        str(out_file),
    )
    assert code == 2 and "apm/out_gate is not in the archive" in err
    assert not out_file.exists()


@sqlite_only
def test_a_day_without_images_makes_no_empty_video(
    capsys: pytest.CaptureFixture[str], archive: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = archive
    mp4 = tmp_path / "before.mp4"
    code, _, err = run_main(
        capsys,
        "export",
        "--database-url",
        url,
        "--download-dir",
        str(root),
        "--stream",
        "in_gate",
        "--date",
        "2025-08-01",
        "--timelapse",
        str(mp4),
    )
    assert code == 2 and "apm/in_gate has no images on 2025-08-01 to make a video of" in err
    assert list(tmp_path.glob("before.mp4*")) == []


@sqlite_only
def test_the_day_page_streams_the_day_and_its_timelapse(
    database: Database, archive: tuple[str, Path]
) -> None:
    _, root = archive
    app = create_app(Archive(database, LocalStore(root)))
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=30) as client:
        page = client.get("/apm/in_gate/2025-09-02").text
        assert 'href="/apm/in_gate/2025-09-02/images.tar"' in page
        assert 'href="/apm/in_gate/2025-09-02/timelapse.mp4"' in page

        pieces = 0
        body = bytearray()
        with client.stream("GET", "/apm/in_gate/2025-09-02/images.tar") as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-tar"
            assert "apm-in_gate-2025-09-02.tar" in response.headers["content-disposition"]
            # Sent as it is made: a piece per image, no Content-Length known in advance.
            assert "content-length" not in response.headers
            for chunk in response.iter_raw():
                pieces += 1
                body += chunk
        with tarfile.open(fileobj=io.BytesIO(bytes(body))) as tar:
            names = tar.getnames()
        assert len([n for n in names if n.endswith(".jpg")]) == 17 and "manifest.json" in names
        assert pieces > 1

        video = client.get("/apm/in_gate/2025-09-02/timelapse.mp4?fps=4")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        with av.open(io.BytesIO(video.content)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 17 + 2 * 4

        assert client.get("/apm/in_gate/2025-08-01/timelapse.mp4").status_code == 404
        assert client.get("/apm/in_gate/2025-09-02/images.rar").status_code == 404
        assert client.get("/apm/in_gate/2025-09-02/timelapse.mp4?fps=99").status_code == 400
        assert client.get("/apm/nope/2025-09-02/images.zip").status_code == 404


@sqlite_only
def test_the_day_downloads_need_the_token_when_one_is_set(
    database: Database, archive: tuple[str, Path]
) -> None:
    _, root = archive
    app = create_app(Archive(database, LocalStore(root)), token="s3cret")
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=30) as client:
        for path in ("images.tar", "images.zip", "timelapse.mp4"):
            assert client.get(f"/apm/in_gate/2025-09-02/{path}").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert client.get("/apm/in_gate/2025-09-02/images.zip", headers=auth).status_code == 200


def frames_of(video: bytes | Path) -> int:
    source = io.BytesIO(video) if isinstance(video, bytes) else str(video)
    with av.open(source) as container:
        return sum(1 for _ in container.decode(video=0))


@sqlite_only
def test_a_finished_day_is_rendered_once_and_again_when_its_images_change(
    database: Database, archive: tuple[str, Path]
) -> None:
    _, root = archive
    store = LocalStore(root)
    after = datetime(2025, 9, 4, 12, tzinfo=UTC)
    made = render_finished_days(database, store, LA, now=after, days=3)
    # Newest first: the 3rd (the one image just after midnight) and 2 September (17
    # images, 2 gaps as cards of 12 frames); the 1st holds none.
    assert [(r.day.isoformat(), r.images) for r in made] == [
        ("2025-09-03", 1),
        ("2025-09-02", 17),
    ]
    video = root / ".timelapse" / "apm" / "in_gate" / "2025-09-02.mp4"
    assert made[1].path == video and frames_of(video) == 17 + 2 * 12
    written = video.stat().st_mtime_ns

    assert render_finished_days(database, store, LA, now=after, days=3) == []
    assert video.stat().st_mtime_ns == written
    # The files are gatecam's own: verify counts no stray among them.
    report = verify_archive(database, store)
    assert report.strays == [] and report.checked_rows == 18

    later = START + timedelta(hours=5)  # 13:00 local, in the silence after 11:10
    key = image_key(ImageRef("apm", "in_gate", later))
    data = render_jpeg("apm", "in_gate", later, thumbnail=False)
    store.put(key, data)
    with database.session_scope() as session:
        queries.insert_images(session, [ImageRecord("apm", "in_gate", key, later, len(data))])
    again = render_finished_days(database, store, LA, now=after, days=3)
    assert [(r.day.isoformat(), r.images) for r in again] == [("2025-09-02", 18)]


@sqlite_only
def test_the_day_page_serves_the_rendered_file_without_encoding(
    database: Database, archive: tuple[str, Path]
) -> None:
    _, root = archive
    store = LocalStore(root)
    render_finished_days(database, store, LA, days=3, now=datetime(2025, 9, 4, tzinfo=UTC))
    # Its frames come from the file: with an image gone, an encode would make one fewer.
    (root / image_key(ImageRef("apm", "in_gate", TIMES[0]))).unlink()
    app = create_app(Archive(database, store))
    with WebServer(app) as web, httpx.Client(base_url=web.url, timeout=30) as client:
        video = client.get("/apm/in_gate/2025-09-02/timelapse.mp4")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert frames_of(video.content) == 17 + 2 * 12
        progress = client.get("/apm/in_gate/2025-09-02/timelapse.json").json()
        assert progress == {"state": "ready", "src": "/apm/in_gate/2025-09-02/timelapse.mp4"}
        # Another rate is made on request, from the images there are now.
        slow = client.get("/apm/in_gate/2025-09-02/timelapse.mp4?fps=4")
        assert frames_of(slow.content) == 16 + 2 * 4
