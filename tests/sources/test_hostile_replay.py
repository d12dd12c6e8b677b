"""Replay against a hostile site: links off its origin, huge and unreadable answers.

Over real HTTP against the stand-in's hostile faults, with a second local server playing
the host a hostile link points at; and a property test of the parser over any answer.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecam.model import ImageRef, Recipe
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.network import MAX_JSON_BYTES, urls_in_json
from gatecam.sources.draydog.replay import Replayer, ReplayError, origin_of
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.sources.draydog.standin.httpserver import LocalHandler, LocalServer

NOW = datetime(2025, 9, 1, 20, 30, 15, tzinfo=UTC)
DAY = date(2025, 8, 30)
TOKEN = "secret-session-token"
LISTING = "/api/history?terminal={terminal}&stream={stream}&date={day}"


class Trap(LocalServer):
    """Another host: it keeps every request that reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        super().__init__("127.0.0.1", 0, _TrapHandler)


class _TrapHandler(LocalHandler):
    def do_GET(self) -> None:
        trap = self.server.owner
        with trap.lock:
            trap.seen.append((self.path, dict(self.headers)))
        body = b'{"images": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[StandIn]:
    with StandIn(catalogue=Catalogue(clock=lambda: NOW)) as standin:
        yield standin


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as server:
        yield server


@pytest.fixture
def replayer(site: StandIn) -> Iterator[Replayer]:
    with httpx.Client(timeout=10) as client:
        yield Replayer(site.source, client)


def recipe(site: StandIn) -> Recipe:
    return Recipe("apm", "GET", site.url + LISTING, {"x-camera-token": TOKEN})


def list_day(replayer: Replayer, site: StandIn) -> set[ImageRef]:
    return replayer.list_day(recipe(site), "in_gate", DAY, today=NOW.date()).refs


@pytest.mark.parametrize(
    "link",
    [
        "{trap}/steal",  # same host, another port
        "//127.0.0.1:{trap_port}/steal",  # scheme-relative
        "https://127.0.0.1:{site_port}/api/history",  # same host and port, another scheme
    ],
)
def test_replay_follows_no_link_off_its_origin_and_its_token_stays_home(
    site: StandIn, trap: Trap, replayer: Replayer, link: str
) -> None:
    target = link.format(trap=trap.url, trap_port=trap.port, site_port=site.port)
    site.inject("offsite_next", target=target)
    with pytest.raises(ReplayError, match=f"refused a link off http://127.0.0.1:{site.port}"):
        list_day(replayer, site)
    assert trap.seen == []


def test_a_site_that_stops_being_hostile_is_replayed_with_its_token(
    site: StandIn, trap: Trap, replayer: Replayer
) -> None:
    site.inject("offsite_next", target=f"{trap.url}/steal")
    with pytest.raises(ReplayError):
        list_day(replayer, site)
    assert list_day(replayer, site) == {
        ImageRef("apm", "in_gate", ts) for ts in site.catalogue.list("apm", "in_gate", DAY)
    }
    assert trap.seen == []


@pytest.mark.parametrize(
    ("link", "cause"),
    [
        ("http://[::1", "does not parse: http://\\[::1"),
        ("http://127.0.0.1:99999/x", "does not parse"),
        ("http://xn--/x", "off http"),
        ("javascript:alert(1)", "does not parse"),
    ],
)
def test_a_next_link_that_does_not_parse_is_refused(
    site: StandIn, replayer: Replayer, link: str, cause: str
) -> None:
    site.inject("bad_next", target=link)
    with pytest.raises(ReplayError, match=cause) as refused:
        list_day(replayer, site)
    assert refused.value.drop


def test_json_nested_too_deep_is_refused(site: StandIn, replayer: Replayer) -> None:
    site.inject("nested_json")
    with pytest.raises(ReplayError, match="nested too deep") as refused:
        list_day(replayer, site)
    assert refused.value.drop


def test_an_answer_past_the_cap_is_refused_with_bounded_memory(
    site: StandIn, replayer: Replayer
) -> None:
    site.inject("huge_answer")
    tracemalloc.start()
    try:
        with pytest.raises(ReplayError, match="more than the 5,000,000 bytes"):
            list_day(replayer, site)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The 56 MB answer is cut off at the cap: what was read, and little more.
    assert peak < 2 * MAX_JSON_BYTES


class _Unread(httpx.SyncByteStream):
    """A body that notes whether anyone read it."""

    def __init__(self) -> None:
        self.read = False

    def __iter__(self) -> Iterator[bytes]:
        self.read = True
        yield b"{}"


def test_a_declared_length_past_the_cap_is_refused_unread() -> None:
    body = _Unread()
    headers = {"content-type": "application/json", "content-length": str(MAX_JSON_BYTES + 1)}
    transport = httpx.MockTransport(lambda _: httpx.Response(200, headers=headers, stream=body))
    source = DrayDogSource()
    with httpx.Client(transport=transport) as client:
        replayer = Replayer(source, client)
        listing = Recipe("apm", "GET", source.app_url + LISTING)
        with pytest.raises(ReplayError, match="more than"):
            replayer.list_day(listing, "in_gate", DAY, today=NOW.date())
    assert not body.read


def test_image_addresses_are_found_at_any_depth() -> None:
    deep: object = "https://cdn.example/a.jpeg"
    for _ in range(20_000):  # far past Python's recursion limit
        deep = [{"a": deep}]
    deep = [deep, {"b": "https://cdn.example/b.jpg"}]
    assert list(urls_in_json(deep)) == ["https://cdn.example/a.jpeg", "https://cdn.example/b.jpg"]


# --- any answer at all: refs, or a ReplayError ---------------------------------------------

SOURCE = DrayDogSource()
PAGE_URL = SOURCE.app_url + "/api/history?terminal=apm&stream=in_gate&date=2025-08-30"
ORIGIN = origin_of(PAGE_URL)
GOOD_IMAGE = SOURCE.image_url(
    ImageRef("apm", "in_gate", datetime(2025, 8, 30, 1, 2, 3, tzinfo=UTC))
)
LINKS = [
    "http://[::1",
    "http://xn--/x",
    "https://app.draydog.com:99999/",
    "https://app.draydog.com/api/history?cursor=c7",
    "?cursor=c7",
    "//evil.example/steal",
    "http://app.draydog.com/api/history",
    "https://evil.example/api/history",
    "javascript:alert(1)",
    "",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from([GOOD_IMAGE, GOOD_IMAGE.replace("apm", "fms"), "http://x/a.jpeg"])
    | st.sampled_from(LINKS)
)
keys = st.text(max_size=6) | st.sampled_from(["next", "nextUrl", "links", "images", "next_url"])
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)
answers = (
    values.map(lambda value: json.dumps(value).encode())
    | st.builds(
        lambda link, images: json.dumps({"next": link, "images": images}).encode(),
        st.sampled_from(LINKS) | st.text(max_size=30),
        values,
    )
    | st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.binary(max_size=64)
)


def _no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the parser asked {request.url}")


PARSER = Replayer(SOURCE, httpx.Client(transport=httpx.MockTransport(_no_request)))


@settings(max_examples=200, deadline=None)
@given(answers)
def test_any_answer_gives_refs_and_an_on_origin_link_or_a_one_line_refusal(body: bytes) -> None:
    assert ORIGIN is not None
    try:
        refs, link = PARSER.read_page(body, PAGE_URL, ORIGIN, "apm", "in_gate")
    except ReplayError as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(ref, ImageRef) and ref.stream == "in_gate" for ref in refs)
    assert link is None or origin_of(link) == ORIGIN
