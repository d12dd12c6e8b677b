"""The archive web page over real HTTP, on real image files and SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import select, update

import gatecam.web
from gatecam.archive import Archive
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.database.queries import ImageRecord
from gatecam.errors import InputError
from gatecam.model import ImageRef
from gatecam.storage import LocalStore
from gatecam.storage.local import write_atomic
from gatecam.web import create_app
from tests.helpers import image_path
from tests.web.conftest import DAY, IN_GATE, LA, index, jpeg, local, write


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
    # the hours before it are not a gap.
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
    # These rows have no sha256, so no URL names their bytes: the browser asks again.
    assert response.headers["cache-control"] == "public, no-cache"
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


def test_no_route_follows_a_symlink_out_of_the_archive(
    client: httpx.Client, database: Database, tmp_path: Path
) -> None:
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$secret:19000:0:99999:7:::\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "100000.jpg").write_bytes(jpeg(3))
    streams = tmp_path / "images" / "apm" / "in_gate"
    (streams / "2025-08-30").mkdir()
    (streams / "2025-08-30" / "100000.jpg").symlink_to(secret)
    (streams / "2025-08-31").symlink_to(elsewhere)
    rows = [
        ("apm/in_gate/2025-08-30/100000.jpg", datetime(2025, 8, 30, 10, tzinfo=UTC)),
        ("apm/in_gate/2025-08-31/100000.jpg", datetime(2025, 8, 31, 10, tzinfo=UTC)),
        (str(secret), datetime(2025, 8, 29, 10, tzinfo=UTC)),
    ]
    with database.session_scope() as session:
        queries.insert_images(session, [ImageRecord("apm", "in_gate", p, t) for p, t in rows])
        ids = session.scalars(select(Image.id).where(Image.filepath.in_([p for p, _ in rows])))
        ids = list(ids)
    assert len(ids) == 3
    for image_id in ids:
        for path in [f"/image/{image_id}", f"/image/{image_id}/thumb"]:
            response = client.get(path)
            assert response.status_code == 404, path
            assert b"root:" not in response.content and response.content != jpeg(3)


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
        create_app(Archive(database, LocalStore(tmp_path)), tz="Mars/Olympus_Mons")


# Each of these failed on the earlier http.server page.


def test_at_without_a_terminal_defaults_it(
    client: httpx.Client, archive: dict[datetime, int]
) -> None:
    # The README's link: /at?stream=in_gate&time=... with no terminal.
    page = client.get("/at", params={"stream": "in_gate", "time": "2025-09-02T10:05"})
    assert page.status_code == 200
    assert f'<img src="/image/{archive[local("10:02")]}"' in page.text


def test_days_before_the_archive_began_are_not_red_zeros(client: httpx.Client) -> None:
    page = client.get("/").text
    # The first image is 23:58 on Mon 1 Sep in Los Angeles; the days before it are listed
    # as not archived, not as empty days.
    before = re.search(r'<a class="([^"]*)"[^>]*href="/apm/in_gate/2025-08-31">', page)
    assert before is not None and before[1] == "before"
    assert 'href="/apm/in_gate/2025-08-31">Sun 31 Aug<b>0</b>' not in page
    assert 'href="/apm/in_gate/2025-09-01">Mon 01 Sep<b>1</b>' in page
    day = text(client.get("/apm/in_gate/2025-08-30").text)
    assert "before the archive of this stream began" in day and "no image for" not in day


def test_pages_say_which_zone_their_days_are_in(client: httpx.Client) -> None:
    assert "days run midnight to midnight in America/Los_Angeles" in text(client.get("/").text)
    assert "days run midnight to midnight in UTC" in text(client.get(DAY + "?tz=UTC").text)


def test_the_day_grid_loads_small_thumbnails(
    client: httpx.Client, database: Database, tmp_path: Path
) -> None:
    # A full-size camera image, 1280x720 of noise: about the CDN's 128 KB.
    big = io.BytesIO()
    PILImage.effect_noise((1280, 720), 60).convert("RGB").save(big, "JPEG", quality=90)
    ts = local("12:00", day=4)
    write_atomic(image_path(tmp_path / "images", ImageRef("apm", "in_gate", ts)), big.getvalue())
    image_id = index(database, tmp_path / "images", "in_gate", [ts])[ts]
    day = client.get("/apm/in_gate/2025-09-04").text
    assert f'src="/image/{image_id}/thumb"' in day and f'src="/image/{image_id}"' not in day
    thumb = client.get(f"/image/{image_id}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    with PILImage.open(io.BytesIO(thumb.content)) as small:
        assert small.format == "JPEG" and small.size == (320, 180)
    assert len(thumb.content) * 5 < len(big.getvalue())
    assert client.get(f"/image/{image_id}").content == big.getvalue()


def test_the_web_package_runs_no_sql_of_its_own() -> None:
    # All SQL lives in gatecam/database/; the web may only catch its errors.
    for path in Path(gatecam.web.__file__).parent.glob("*.py"):
        source = path.read_text()
        for line in re.findall(r"^from sqlalchemy[^\n]*", source, re.MULTILINE):
            allowed = (
                "from sqlalchemy.exc import SQLAlchemyError",
                "from sqlalchemy.orm import Session",
            )
            assert line in allowed, (path.name, line)
        assert "session.execute" not in source and "session.scalar" not in source, path.name


def test_the_overview_says_what_it_counts_and_in_which_offset_its_runs_started(
    client: httpx.Client,
) -> None:
    seen = text(client.get("/").text)
    # The windows count when images were stored, not when the camera took them.
    stored = len(IN_GATE) + 2  # the fixture's rows, all stored a moment ago
    assert f"{stored} stored in the last hour" in seen
    assert f"{stored} stored in the last 24 h" in seen
    assert " in the last hour" not in seen.replace("stored in the last hour", "")
    offset = datetime.now(LA).strftime("%z")
    assert f"started ({offset[:3]}:{offset[3:]})" in seen
    assert "started (+00:00)" in text(client.get("/", params={"tz": "UTC"}).text)
