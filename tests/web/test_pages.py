"""The archive web page over real HTTP, on real image files and SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import io
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import select, update

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.downloader.archive import image_path, write_atomic
from gatecam.errors import InputError
from gatecam.sources.base import ImageRef
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app

LA = ZoneInfo("America/Los_Angeles")
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
        WebServer(create_app(database, LocalStore(tmp_path / "images"))) as web,
        httpx.Client(base_url=web.url, timeout=10) as http,
    ):
        yield http


def text(html: str) -> str:
    """The page as a reader sees it: tags dropped."""
    return re.sub(r"<[^>]+>", "", html)


def raw_get(client: httpx.Client, path: str) -> int:
    """The status for ``path`` sent byte for byte (httpx would resolve ``..`` first)."""
    conn = http.client.HTTPConnection(client.base_url.host, client.base_url.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_index_lists_streams_counts_days_and_runs(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    seen = text(page.text)
    assert f"{len(IN_GATE) + 2} images archived" in seen
    assert "apm / in_gate" in seen and "apm / out_gate" in seen
    assert f"{len(IN_GATE)} images · newest captured Wed 2025-09-03 00:01:00 -07:00" in seen
    # Counts per Los Angeles day, each linking to its day page.
    assert f'href="{DAY}">Tue 02 Sep<b>{len(IN_GATE) - 2}</b>' in page.text
    assert 'href="/apm/in_gate/2025-09-01">Mon 01 Sep<b>1</b>' in page.text
    assert 'href="/apm/out_gate/2025-09-02">Tue 02 Sep<b>2</b>' in page.text
    # The failed run, its error escaped, and the lookup form.
    assert "failed" in seen and "camera page said &lt;b&gt;503&lt;/b&gt;" in page.text
    assert '<form action="/at" method="get">' in page.text


def test_a_day_follows_the_display_zone_across_two_utc_dates(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    page = client.get(DAY)
    assert page.status_code == 200
    shown = [int(i) for i in re.findall(r'src="/image/(\d+)/thumb"', page.text)]
    wanted = [archive[ts] for ts in IN_GATE if ts.astimezone(LA).day == 2]
    assert shown == wanted  # in time order, from two UTC date folders
    assert archive[local("23:58", day=1)] not in shown
    assert archive[local("00:01", day=3)] not in shown
    seen = text(page.text)
    assert "00:02:00 -07:00" in seen and "23:52:00 -07:00" in seen
    assert 'title="2025-09-02 07:02:00 UTC"' in page.text


def test_a_day_shows_a_gap_where_images_are_missing(client: httpx.Client) -> None:
    page = client.get(DAY).text
    assert page.count('class="gap"') == 1
    marker = "no image for 47 min (14:02 → 14:49)"
    assert marker in text(page)
    # Inline, between the last image before and the first after.
    assert text(page).index("14:02:00 -07:00") < text(page).index(marker)
    assert text(page).index(marker) < text(page).index("14:49:00 -07:00")
    assert "1 gap longer than 20 min, 47 min without images: 14:02 → 14:49" in text(page)


def test_a_day_in_utc_starts_at_midnight_utc(client: httpx.Client) -> None:
    page = text(client.get("/apm/in_gate/2025-09-02", params={"tz": "UTC"}).text)
    # 06:58 UTC is the 1st in Los Angeles but the 2nd in UTC, and the archive's first image:
    # the hours before it are not a gap (issue 7, item 5).
    assert "06:58:00 +00:00" in page
    assert "00:00 → 06:58" not in page
    assert "days run midnight to midnight in UTC" in page


def test_days_link_to_their_neighbours_and_unknown_streams_are_not_found(
    client: httpx.Client,
) -> None:
    page = client.get(DAY, params={"tz": "UTC"}).text
    assert 'href="/apm/in_gate/2025-09-01?tz=UTC"' in page
    assert 'href="/apm/in_gate/2025-09-03?tz=UTC"' in page
    assert client.get("/apm/no_such/2025-09-02").status_code == 404
    assert client.get("/apm/in_gate/2025-02-30").status_code == 404


def test_at_shows_the_nearest_image_with_its_neighbours(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    page = client.get(
        "/at", params={"terminal": "apm", "stream": "in_gate", "time": "2025-09-02T10:05"}
    )
    assert page.status_code == 200
    assert f'<img src="/image/{archive[local("10:02")]}"' in page.text
    seen = text(page.text)
    assert "Nearest image: Tue 2025-09-02 10:02:00 -07:00, 3 min before the time asked" in seen
    assert "Previous image: Tue 2025-09-02 09:52:00 -07:00, 13 min before" in seen
    assert "Next image: Tue 2025-09-02 10:12:00 -07:00, 7 min after" in seen
    assert f'href="{DAY}"' in page.text


def test_at_an_image_s_own_time_shows_that_image(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    params = {"terminal": "apm", "stream": "in_gate", "time": local("10:02").isoformat()}
    page = client.get("/at", params=params)
    assert f'<img src="/image/{archive[local("10:02")]}"' in page.text
    assert "10:02:00 -07:00, exactly the time asked" in text(page.text)


def test_at_inside_a_gap_picks_the_closer_side(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    page = client.get(
        "/at", params={"terminal": "apm", "stream": "in_gate", "time": "2025-09-02T14:30"}
    )
    assert f'<img src="/image/{archive[local("14:49")]}"' in page.text
    seen = text(page.text)
    assert "14:49:00 -07:00, 19 min after the time asked" in seen
    assert "Previous image: Tue 2025-09-02 14:02:00 -07:00, 28 min before" in seen
    assert "Next image: Tue 2025-09-02 14:52:00 -07:00, 22 min after" in seen


def test_at_reads_an_offset_when_one_is_given(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    for query in [
        "time=2025-09-02T17:05:00Z",
        "time=2025-09-02T10:05:00-07:00&tz=UTC",
        "time=2025-09-02T19:05+02:00",  # an unencoded '+', which arrives as a space
    ]:
        page = client.get(f"/at?terminal=apm&stream=in_gate&{query}")
        assert page.status_code == 200, query
        assert f'<img src="/image/{archive[local("10:02")]}"' in page.text, query


def test_at_says_so_when_nothing_is_near(client: httpx.Client) -> None:
    page = client.get(
        "/at", params={"terminal": "apm", "stream": "in_gate", "time": "2025-09-05T12:00"}
    )
    assert page.status_code == 200
    seen = text(page.text)
    assert "No image within 30 min of Fri 2025-09-05 12:00:00 -07:00." in seen
    assert "Nearest before: Wed 2025-09-03 00:01:00 -07:00, 2 d 11 h before" in seen
    assert "Nearest after: none archived" in seen
    assert "<img" not in page.text


def test_an_image_is_served_with_its_exact_bytes(
    client: httpx.Client, archive: dict[datetime, int], tmp_path: Path
) -> None:
    ts = local("10:02")
    path = image_path(tmp_path / "images", ImageRef("apm", "in_gate", ts))
    response = client.get(f"/image/{archive[ts]}")
    assert response.status_code == 200
    assert response.content == path.read_bytes()
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(path.stat().st_size)
    assert "immutable" in response.headers["cache-control"]
    head = client.head(f"/image/{archive[ts]}")
    assert head.status_code == 200 and head.content == b""


def test_unknown_and_deleted_images_are_not_found(
    client: httpx.Client, archive: dict[datetime, int], tmp_path: Path
) -> None:
    assert client.get(f"/image/{max(archive.values()) + 1000}").status_code == 404
    ts = local("10:12")
    image_path(tmp_path / "images", ImageRef("apm", "in_gate", ts)).unlink()
    assert client.get(f"/image/{archive[ts]}").status_code == 404


def test_a_file_found_gone_shows_as_missing_and_is_skipped(
    client: httpx.Client, database: Database, archive: dict[datetime, int]
) -> None:
    gone = archive[local("10:02")]
    with database.session_scope() as session:
        session.execute(update(Image).where(Image.id == gone).values(missing_since=local("20:00")))
    day = client.get(DAY).text
    assert f'src="/image/{gone}"' not in day and "file missing" in text(day)
    params = {"terminal": "apm", "stream": "in_gate", "time": "2025-09-02T10:03"}
    page = client.get("/at", params=params).text
    assert f'<img src="/image/{archive[local("10:12")]}"' in page


def test_today_shows_the_silence_up_to_now_as_an_open_gap(
    client: httpx.Client, database: Database, tmp_path: Path
) -> None:
    # A fixed-offset zone in which it is now around noon, so the last hour is the same day.
    now = datetime.now(UTC)
    hours = 12 - now.hour
    zone = "Etc/GMT" if hours == 0 else f"Etc/GMT{-hours:+d}"  # POSIX names flip the sign
    times = [now - timedelta(minutes=60), now - timedelta(minutes=50)]
    write(tmp_path / "images", "live", times)
    index(database, tmp_path / "images", "live", times)
    today = now.astimezone(ZoneInfo(zone)).date()
    page = text(client.get(f"/apm/live/{today}", params={"tz": zone}).text)
    # The stream's archive began with its first image: the morning before it is no gap.
    assert "00:00 →" not in page
    last = times[-1].astimezone(ZoneInfo(zone))
    assert f"no image for 50 min so far ({last:%H:%M} → now)" in page


def test_no_request_reaches_a_file_outside_the_archive(
    client: httpx.Client, database: Database, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg(1))
    record = ImageRecord("apm", "in_gate", "../secret.jpg", local("03:33"), 10)
    with database.session_scope() as session:
        queries.insert_images(session, [record])
        row_id = session.scalar(select(Image.id).where(Image.filepath == "../secret.jpg"))
    assert client.get(f"/image/{row_id}").status_code == 404
    for path in [
        "/image/../secret.jpg",
        "/image/%2e%2e/secret.jpg",
        "/image/1/../../secret.jpg",
        "/../secret.jpg",
        "/apm/in.gate/2025-09-02",
        "/apm/../in_gate/2025-09-02",
        "/APM/in_gate/2025-09-02",
    ]:
        assert raw_get(client, path) == 404, path


BAD_INPUT = [
    "/?tz=Mars/Olympus_Mons",
    f"{DAY}?tz=../../etc/passwd",
    "/at?terminal=apm&stream=in_gate&time=2025-09-02T10:05&tz=Nowhere",
    "/at?terminal=apm&stream=in_gate&time=yesterday",
    "/at?terminal=apm&stream=in_gate&time=2025-13-45T10:00",
    "/at?terminal=apm&stream=in_gate&time=2025-09-02T10:05%2B25:00",
    "/at?terminal=apm&stream=in_gate",
    "/at?terminal=apm&stream=in.gate&time=2025-09-02T10:05",
    "/at?terminal=apm&stream=no_such&time=2025-09-02T10:05",
]


def test_bad_input_is_a_400_with_one_line(client: httpx.Client) -> None:
    for url in BAD_INPUT:
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.text.startswith("400 Bad Request: "), url
        assert response.text.count("\n") == 1, url


def test_api_stats_is_json_per_terminal(client: httpx.Client) -> None:
    response = client.get("/api/stats")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert list(data) == ["apm"]
    stats = data["apm"]
    assert stats["total_downloaded"] == len(IN_GATE) + 2
    assert stats["downloads_by_stream"] == {"in_gate": len(IN_GATE), "out_gate": 2}
    assert stats["last_error"] == "camera page said <b>503</b>"
    assert datetime.fromisoformat(stats["last_download"]).utcoffset() == timedelta(0)


def test_an_unknown_display_zone_is_refused_at_start(database: Database, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus_Mons'"):
        create_app(database, LocalStore(tmp_path), tz="Mars/Olympus_Mons")
