"""The stand-in site over real HTTP: page, listing API, CDN, publish delay, control API, faults."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from gatecam.model import ImageRef
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin import VARIANTS, Catalogue, StandIn

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
PAGE = "/terminal_cameras/apm?streamName=in_gate"


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def site(clock: Clock) -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(clock=clock)) as standin:
        yield standin


@pytest.fixture
def client(site: StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as http:
        yield http


def newest_url(site: StandIn, *, thumbnail: bool = False) -> str:
    ts = site.catalogue.list("apm", "in_gate", NOW.date())[0]
    return site.source.image_url(ImageRef("apm", "in_gate", ts), thumbnail=thumbnail)


def history(client: httpx.Client, day: str | None = None) -> dict[str, Any]:
    params = {"terminal": "apm", "stream": "in_gate"} | ({"date": day} if day else {})
    response = client.get("/api/history", params=params)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


# --- the page and its API ---------------------------------------------------------------


def test_urls_follow_the_bound_port(standin: StandIn) -> None:
    assert standin.url == f"http://127.0.0.1:{standin.port}"
    assert standin.app_url == standin.url
    assert standin.cdn_url == standin.url + "/cdn"


def test_static_page_holds_no_image_address_and_no_history(client: httpx.Client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    for rendered_only in ("History", ".jpeg", "/cdn/", "<img", "http://", "https://"):
        assert rendered_only not in text


@pytest.mark.parametrize(
    "path",
    [
        "/terminal_cameras/APM?streamName=in_gate",
        "/terminal_cameras/apm",
        "/terminal_cameras/apm?streamName=in%20gate",
        "/terminal_cameras/apm/x?streamName=in_gate",
        "/nowhere",
    ],
)
def test_page_is_not_found_for_invalid_names(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_api_lists_exactly_the_catalogue_newest_first(site: StandIn, client: httpx.Client) -> None:
    day = date(2025, 8, 30)
    data = history(client, day.isoformat())
    expected = site.catalogue.list("apm", "in_gate", day)
    assert len(expected) > 100  # a whole past day at 8 to 12 minutes apart
    images = data["images"]
    assert isinstance(images, list)
    assert [datetime.fromisoformat(i["timestamp"]) for i in images] == expected
    cdn = DrayDogSource(site.app_url, site.cdn_url)
    for item, ts in zip(images, expected, strict=True):
        assert cdn.parse_image_url(item["full"]) == ImageRef("apm", "in_gate", ts)
        assert item["thumbnail"] == cdn.image_url(ImageRef("apm", "in_gate", ts), thumbnail=True)
    assert data["date"] == "2025-08-30"
    assert data["latest"] == newest_url(site)


def test_api_defaults_to_today_and_hides_the_future(site: StandIn, client: httpx.Client) -> None:
    data = history(client)
    assert data["date"] == data["today"] == "2025-09-01"
    images = data["images"]
    assert isinstance(images, list) and images
    assert all(datetime.fromisoformat(i["timestamp"]) <= NOW for i in images)
    assert history(client, "2025-09-02")["images"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"terminal": "apm", "stream": "in_gate", "date": "2025-9-1"},
        {"terminal": "apm", "stream": "in_gate", "date": "2025-02-30"},
        {"terminal": "APM", "stream": "in_gate"},
        {"terminal": "apm"},
    ],
)
def test_api_rejects_bad_queries(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/api/history", params=params)
    assert response.status_code == 400
    assert "error" in response.json()


# --- the CDN ------------------------------------------------------------------------------


@pytest.mark.parametrize(("thumbnail", "size"), [(False, (1280, 720)), (True, (240, 135))])
def test_cdn_serves_a_real_jpeg(
    site: StandIn, client: httpx.Client, thumbnail: bool, size: tuple[int, int]
) -> None:
    response = client.get(newest_url(site, thumbnail=thumbnail))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(response.headers["content-length"]) == len(response.content)
    assert Image.open(io.BytesIO(response.content)).size == size
    if not thumbnail:
        assert 30_000 < len(response.content) < 200_000  # like a real ~127 KB frame
    assert client.get(newest_url(site, thumbnail=thumbnail)).content == response.content


def test_cdn_head_gives_headers_only(site: StandIn, client: httpx.Client) -> None:
    response = client.head(newest_url(site))
    assert response.status_code == 200
    assert int(response.headers["content-length"]) > 30_000
    assert response.content == b""


def test_cdn_answers_404_for_what_is_not_published(site: StandIn, client: httpx.Client) -> None:
    newest = site.catalogue.list("apm", "in_gate", NOW.date())[0]
    missing = [
        site.source.image_url(ImageRef("apm", "in_gate", newest + timedelta(seconds=1))),
        site.source.image_url(ImageRef("apm", "in_gate", NOW + timedelta(hours=1))),
        f"{site.cdn_url}/apm/2025-09-01/08/2025-09-01T08:00:00-in_gate.jpeg",  # padded hour
        f"{site.cdn_url}/apm/2025-09-01/1/2025-13-45T99:00:00-in_gate.jpeg",
        f"{site.cdn_url}/apm/not-an-image.jpeg",
    ]
    for url in missing:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")


def test_publish_delay_holds_back_the_newest_image(clock: Clock) -> None:
    catalogue = Catalogue(clock=clock, publish_delay=timedelta(seconds=60))
    captured = catalogue.list("apm", "in_gate", NOW.date())[0]
    clock.now = captured + timedelta(seconds=59)
    with StandIn(catalogue=catalogue) as site, httpx.Client(base_url=site.url) as client:
        url = site.source.image_url(ImageRef("apm", "in_gate", captured))
        listed = [i["full"] for i in history(client)["images"]]
        assert url not in listed
        assert client.get(url).status_code == 404
        clock.now = captured + timedelta(seconds=60)
        assert history(client)["latest"] == url
        assert client.get(url).status_code == 200


def test_old_days_hold_nothing(clock: Clock) -> None:
    catalogue = Catalogue(clock=clock, history_days=3)
    with StandIn(catalogue=catalogue) as site, httpx.Client(base_url=site.url) as client:
        assert history(client, "2025-08-29")["images"]
        assert history(client, "2025-08-28")["images"] == []


def test_latency_still_answers(clock: Clock) -> None:
    with StandIn(latency=0.05, catalogue=Catalogue(clock=clock)) as site:
        assert httpx.get(newest_url(site)).status_code == 200


def test_requests_are_not_logged_to_stderr(
    site: StandIn, client: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    client.get(PAGE)
    client.get(newest_url(site))
    client.get(f"{site.cdn_url}/nothing.jpeg")
    site.inject("reset")
    with pytest.raises(httpx.TransportError):
        client.get(newest_url(site))
    assert capfd.readouterr().err == ""


def test_stop_closes_the_port(clock: Clock) -> None:
    site = StandIn(catalogue=Catalogue(clock=clock)).start()
    url = site.url
    assert httpx.get(url + PAGE).status_code == 200
    site.stop()
    site.stop()  # twice is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + PAGE)


# --- control API ----------------------------------------------------------------------------


def test_control_api_adds_lists_and_counts(site: StandIn, client: httpx.Client) -> None:
    added = NOW - timedelta(minutes=3, seconds=7)
    body = {"terminal": "apm", "stream": "in_gate", "timestamp": added.isoformat()}
    assert client.post("/_standin/images", json=body).status_code == 201
    listed = client.get(
        "/_standin/images", params={"terminal": "apm", "stream": "in_gate", "date": "2025-09-01"}
    ).json()["timestamps"]
    assert listed == [ts.isoformat() for ts in site.catalogue.list("apm", "in_gate", NOW.date())]
    assert added.isoformat() in listed

    before = client.get("/_standin/requests").json()["cdn_requests"]
    url = site.source.image_url(ImageRef("apm", "in_gate", added))
    assert client.get(url).status_code == 200
    assert client.get(f"{site.cdn_url}/apm/nothing.jpeg").status_code == 404
    counts = client.get("/_standin/requests").json()
    assert counts == {"cdn_requests": before + 2, "thumbnail_requests": 0}
    assert site.cdn_requests == before + 2


def test_added_image_waits_for_its_own_time(site: StandIn, client: httpx.Client) -> None:
    future = NOW + timedelta(minutes=5)
    site.catalogue.add("apm", "in_gate", future)
    url = site.source.image_url(ImageRef("apm", "in_gate", future))
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"terminal": "apm", "stream": "in_gate"},
        {"terminal": "APM", "stream": "in_gate", "timestamp": NOW.isoformat()},
        {"terminal": "apm", "stream": "in_gate", "timestamp": "yesterday"},
    ],
)
def test_control_api_rejects_bad_images(client: httpx.Client, body: dict[str, str]) -> None:
    assert client.post("/_standin/images", json=body).status_code == 400


def test_control_api_injects_and_clears_faults(site: StandIn, client: httpx.Client) -> None:
    url = newest_url(site)
    response = client.post("/_standin/faults", json={"kind": "503", "times": None})
    assert response.status_code == 201
    assert [client.get(url).status_code for _ in range(3)] == [503, 503, 503]
    assert client.delete("/_standin/faults").status_code == 204
    assert client.get(url).status_code == 200
    assert client.post("/_standin/faults", json={"kind": "teapot"}).status_code == 400


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "503", "404"])
def test_status_faults_answer_an_html_error_once(
    site: StandIn, client: httpx.Client, kind: str
) -> None:
    site.inject(kind)
    response = client.get(newest_url(site))
    assert response.status_code == int(kind)
    assert response.headers["content-type"].startswith("text/html")
    assert client.get(newest_url(site)).status_code == 200


def test_429_says_when_to_retry(site: StandIn, client: httpx.Client) -> None:
    site.inject("429", retry_after=7.0)
    response = client.get(newest_url(site))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize(
    ("kind", "content_type", "check"),
    [
        ("html", "text/html; charset=utf-8", lambda body: body.startswith(b"<!DOCTYPE html>")),
        ("zero", "image/jpeg", lambda body: body == b""),
        ("no_eoi", "image/jpeg", lambda body: body[:2] == b"\xff\xd8" and body[-2:] != b"\xff\xd9"),
        (
            "wrong_type",
            "text/plain",
            lambda body: body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9",
        ),
    ],
)
def test_bad_200_answers(
    site: StandIn, client: httpx.Client, kind: str, content_type: str, check: object
) -> None:
    site.inject(kind)
    response = client.get(newest_url(site))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert int(response.headers["content-length"]) == len(response.content)
    assert callable(check) and check(response.content)


def test_truncated_promises_more_than_it_sends(site: StandIn, client: httpx.Client) -> None:
    full = client.get(newest_url(site)).content
    site.inject("truncated")
    with client.stream("GET", newest_url(site)) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(full)
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert client.get(newest_url(site)).content == full


def test_reset_closes_without_an_answer(site: StandIn, client: httpx.Client) -> None:
    site.inject("reset")
    with pytest.raises(httpx.ReadError):
        client.get(newest_url(site))
    assert client.get(newest_url(site)).status_code == 200


def test_timeout_answers_late(site: StandIn) -> None:
    site.inject("timeout", delay=5.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(newest_url(site), timeout=0.2)
    site.inject("timeout", delay=0.01)
    assert httpx.get(newest_url(site)).status_code == 200


def test_faults_follow_times_match_and_order(site: StandIn, client: httpx.Client) -> None:
    full, thumb = newest_url(site), newest_url(site, thumbnail=True)
    site.inject("502", match="-thumbnail.jpeg", times=2)
    site.inject("500", times=None)
    assert client.get(full).status_code == 500
    assert [client.get(thumb).status_code for _ in range(3)] == [502, 502, 500]
    assert client.get(PAGE).status_code == 200  # CDN faults leave the page alone
    site.clear_faults()
    assert client.get(full).status_code == 200


def test_inject_rejects_unknown_kinds(site: StandIn) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        site.inject("teapot")
    with pytest.raises(ValueError, match="times"):
        site.inject("500", times=0)


def test_page_500(site: StandIn, client: httpx.Client) -> None:
    site.inject("page_500", match="in_gate")
    assert client.get(PAGE).status_code == 500
    assert client.get(PAGE).status_code == 200


@pytest.mark.parametrize("kind", ["no_history", "foreign_url"])
def test_page_faults_last_one_page_load(site: StandIn, client: httpx.Client, kind: str) -> None:
    site.inject(kind)
    assert f'content="{kind}"' in client.get(PAGE).text
    assert 'content="normal"' in client.get(PAGE).text


def test_foreign_urls_are_ones_discovery_must_refuse(site: StandIn, client: httpx.Client) -> None:
    params = {"terminal": "apm", "stream": "in_gate", "mode": "foreign_url"}
    extra = client.get("/api/history", params=params).json()["extra"]
    assert extra[0].startswith("http://evil.invalid/apm/2025-09-01/")
    assert extra[1].startswith(site.cdn_url + "/apm/")
    assert [site.source.parse_image_url(url) for url in extra] == [None, None]


def test_serve_forever_blocks_until_stopped(clock: Clock) -> None:
    site = StandIn(catalogue=Catalogue(clock=clock))
    serving = threading.Thread(target=site.serve_forever)
    serving.start()
    assert httpx.get(site.url + PAGE).status_code == 200
    assert httpx.get(site.url + "/favicon.ico").status_code == 204
    with pytest.raises(RuntimeError, match="already started"):
        site.start()
    site.stop()
    serving.join(timeout=10)
    assert not serving.is_alive()


# --- variants ---------------------------------------------------------------------------


def test_unknown_variant_is_refused_and_all_means_every_one(clock: Clock) -> None:
    with pytest.raises(ValueError, match=r"unknown stand-in variant 'nope'; known: .*pacific"):
        StandIn(catalogue=Catalogue(clock=clock), variants=["nope"])
    site = StandIn(catalogue=Catalogue(clock=clock), variants=["all"])
    try:
        assert site.variants == set(VARIANTS)
    finally:
        site.stop()


def test_api_pages_and_cuts_days_in_pacific_time(site: StandIn, client: httpx.Client) -> None:
    day = date(2025, 8, 30)
    whole = history(client, day.isoformat())["images"]
    params = {"terminal": "apm", "stream": "in_gate", "date": day.isoformat(), "size": "20"}
    second = client.get("/api/history", params=params | {"page": "2"}).json()
    assert second["images"] == whole[20:40] and second["total"] == len(whole)
    site.set_variants(["pacific"])
    pacific = [
        datetime.fromisoformat(i["timestamp"]) for i in history(client, "2025-08-30")["images"]
    ]
    # 2025-08-30 in Los Angeles (UTC-7) runs from 07:00 UTC that day to 07:00 UTC the next.
    assert min(pacific) >= datetime(2025, 8, 30, 7, tzinfo=UTC)
    assert max(pacific) < datetime(2025, 8, 31, 7, tzinfo=UTC)
    assert max(pacific).date() == date(2025, 8, 31)
    assert history(client)["today"] == "2025-09-01"  # 13:30 in Los Angeles
