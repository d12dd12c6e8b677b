"""Learn, then replay: a camera page's listing request, asked again over plain HTTP.

The camera page is a script-rendered app that gets its list from some request. When that
answer is JSON naming the day's images, the request becomes a recipe (method, URL template
with the day, stream and page as markers, and the headers it sent); replaying it costs
milliseconds where the browser costs seconds.

The site's answers are untrusted input: replay asks nothing off the recipe's own scheme,
host and port (so its learned headers go nowhere else), reads no answer past
MAX_JSON_BYTES, and turns any answer it cannot parse into a ReplayError, which sends the
listing to the browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

import httpx

from gatecam.model import ImageRef, Recipe
from gatecam.sources.draydog.network import MAX_JSON_BYTES, DataRequest, urls_in_json
from gatecam.sources.draydog.site import DrayDogSite

# Headers every HTTP client sets for itself, or that only a browser's fetch sends: the
# rest (tokens, API keys, cookies) are what the site may need and replay sends again.
_OWN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "host",
        "origin",
        "pragma",
        "referer",
        "user-agent",
    }
)
_PAGE_PARAMS = frozenset({"page", "pageno", "page_no", "pagenumber", "page_number", "pageindex"})
# Links to an answer's next part, as APIs commonly name them.
_NEXT_KEYS = ("next", "next_url", "nextUrl", "next_page_url", "nextPage")
# Like the browser: a listing whose first image comes this late after UTC midnight may
# have its start on the site's previous day (a site cutting days in Pacific time).
LATE_START = timedelta(minutes=45)
MAX_PAGES = 500
_MARKERS = ("{terminal}", "{stream}", "{day}", "{page}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# How much of a link or address a refusal quotes: the site chooses how long they are.
_SHOWN = 120
Origin = tuple[str, str, int]


class ReplayError(Exception):
    """Replay could not list the day; the browser must. ``drop`` says the recipe is wrong."""

    drop = True


class ReplayUnfit(ReplayError):
    """The recipe cannot answer this question (another day), though it is not wrong."""

    drop = False


class ReplayEmpty(ReplayError):
    """No image of the day: wrong only if the browser sees some."""

    drop = False


@dataclass
class Replayed:
    """What one replayed listing found, and how many requests it took."""

    refs: set[ImageRef]
    requests: int


def learn(
    source: DrayDogSite,
    requests: list[DataRequest],
    terminal: str,
    stream: str,
    day: date,
) -> Recipe | None:
    """A recipe from the page's data requests, or None if none named the day's images.

    A request naming the day outright is preferred: it can be asked for any day.
    """
    found: list[DataRequest] = []
    for request in requests:
        refs = [source.parse_image_url(url) for url in request.image_urls]
        if any(
            ref is not None and (ref.terminal, ref.stream) == (terminal, stream) for ref in refs
        ) and request.method in ("GET", "POST"):
            found.append(request)
    if not found:
        return None
    # The site's day parameter: the day itself, or a neighbour the browser picked because
    # the site cuts days elsewhere than UTC midnight.
    chosen, site_day = found[0], None
    for candidate in (day, day - timedelta(days=1), day + timedelta(days=1)):
        text = candidate.isoformat()
        dated = [r for r in found if text in r.url or text in (r.body or "")]
        if dated:
            chosen, site_day = dated[0], text
            break
    names = {stream: "{stream}", terminal: "{terminal}"}
    if site_day is not None:
        names[site_day] = "{day}"
    return Recipe(
        terminal=terminal,
        method=chosen.method,
        url_template=_url_template(chosen.url, names),
        headers={
            name.lower(): value
            for name, value in chosen.headers.items()
            if name.lower() not in _OWN_HEADERS
            and not name.startswith(":")
            and not name.lower().startswith("sec-")
        },
        body_template=_body_template(chosen.body, names),
    )


def _url_template(url: str, names: dict[str, str]) -> str:
    parts = urlsplit(url)
    path = "/".join(names.get(segment, segment) for segment in parts.path.split("/"))
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value in names:
            marker = names[value]
        elif key.lower() in _PAGE_PARAMS and value == "1":
            marker = "{page}"
        else:
            marker = quote(value, safe="")
        query.append(f"{quote(key, safe='')}={marker}")
    return urlunsplit((parts.scheme, parts.netloc, path, "&".join(query), ""))


def _body_template(body: str | None, names: dict[str, str]) -> str | None:
    if not body:
        return None
    for value, marker in names.items():
        body = body.replace(f'"{value}"', f'"{marker}"')
    return body


def fill(template: str, terminal: str, stream: str, day: date, page: int) -> str:
    values = (terminal, stream, day.isoformat(), str(page))
    for marker, value in zip(_MARKERS, values, strict=True):
        template = template.replace(marker, value)
    return template


class Replayer:
    """Lists a stream's day by replaying its terminal's recipe over one pooled HTTP client."""

    def __init__(self, source: DrayDogSite, client: httpx.Client) -> None:
        self._source = source
        self._client = client
        self._cdn = source.cdn_url.rstrip("/") + "/"

    def list_day(
        self,
        recipe: Recipe,
        stream: str,
        day: date,
        *,
        today: date,
        known: frozenset[datetime] = frozenset(),
    ) -> Replayed:
        """Every image of the UTC ``day``, with the site's neighbouring day when needed.

        Raises ReplayError with a one-line cause when replay cannot be trusted for it.
        """
        if not recipe.dated and day != today:
            raise ReplayUnfit(f"the recipe lists the current day only, not {day}")
        refs, requests, stopped = self._site_day(recipe, stream, day, day, known)
        ours = {ref for ref in refs if ref.timestamp.date() == day}
        dates = {ref.timestamp.date() for ref in refs}
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        neighbour: date | None = None
        if stopped:
            pass  # archived images were reached: earlier runs listed the rest of the day
        elif day - timedelta(days=1) not in dates and (
            not ours or min(r.timestamp for r in ours) - midnight > LATE_START
        ):
            neighbour = day - timedelta(days=1)
        elif (
            day < today
            and ours
            and midnight + timedelta(days=1) - max(r.timestamp for r in ours) > LATE_START
        ):
            neighbour = day + timedelta(days=1)
        if neighbour is not None and recipe.dated:
            more, asked, _ = self._site_day(recipe, stream, neighbour, day, known)
            ours |= {ref for ref in more if ref.timestamp.date() == day}
            requests += asked
        elif neighbour is not None and ours:
            raise ReplayUnfit("the day may start on the site's previous day, which it cannot ask")
        if not ours:
            raise ReplayEmpty(f"replay listed no image of {day}")
        return Replayed(ours, requests)

    def _site_day(
        self, recipe: Recipe, stream: str, site_day: date, day: date, known: frozenset[datetime]
    ) -> tuple[set[ImageRef], int, bool]:
        """The images the site lists for its ``site_day``, the requests, and whether paging
        stopped at images of the UTC ``day`` already archived."""
        terminal = recipe.terminal
        origin = origin_of(recipe.url_template)
        if origin is None:
            raise ReplayError(f"the recipe's URL does not parse: {_shown(recipe.url_template)}")
        page = 1
        url = fill(recipe.url_template, terminal, stream, site_day, page)
        found: set[ImageRef] = set()
        for asked in range(1, MAX_PAGES + 1):
            body = self._ask(recipe, origin, url, stream, site_day, page)
            refs, link = self.read_page(body, url, origin, terminal, stream)
            new = refs - found
            found |= refs
            of_day = [ref.timestamp for ref in new if ref.timestamp.date() == day]
            if known and of_day and min(of_day) in known:
                return found, asked, True  # reached archived images, as the browser does
            if link is not None and link != url:
                url = link
            elif recipe.paged and new:
                page += 1
                url = fill(recipe.url_template, terminal, stream, site_day, page)
            else:
                return found, asked, False
        raise ReplayError(f"replay was still paging after {MAX_PAGES} requests")

    def _ask(
        self, recipe: Recipe, origin: Origin, url: str, stream: str, day: date, page: int
    ) -> bytes:
        """The body of one replayed request, at most MAX_JSON_BYTES of JSON."""
        on_origin(url, origin)
        body = recipe.body_template
        content = None if body is None else fill(body, recipe.terminal, stream, day, page)
        try:
            # Never redirected: a redirect could carry the learned headers to another host.
            with self._client.stream(
                recipe.method, url, headers=recipe.headers, content=content, follow_redirects=False
            ) as response:
                return _read(response, stream)
        except httpx.HTTPError as exc:
            raise ReplayError(f"replay request failed: {type(exc).__name__}: {exc}") from exc
        except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError (IDNA) is a ValueError
            raise ReplayError(f"replay could not ask {_shown(url)}: {exc}") from exc

    def read_page(
        self, body: bytes, url: str, origin: Origin, terminal: str, stream: str
    ) -> tuple[set[ImageRef], str | None]:
        """The stream's images one answer names, and the absolute link to its next part.

        Whatever the site sent, the outcome is that or a ReplayError.
        """
        try:
            data = json.loads(body)
        except RecursionError as exc:
            raise ReplayError("replay answered JSON nested too deep to read") from exc
        except ValueError as exc:
            raise ReplayError("replay answered non-JSON despite its content type") from exc
        refs = self._refs(data, terminal, stream)
        link = _next_link(data)
        if link is None:
            return refs, None
        try:
            absolute = urljoin(url, link)
        except ValueError as exc:
            raise ReplayError(
                f"replay got a next link that does not parse: {_shown(link)}"
            ) from exc
        on_origin(absolute, origin)
        return refs, absolute

    def _refs(self, data: Any, terminal: str, stream: str) -> set[ImageRef]:
        refs: set[ImageRef] = set()
        for url in set(urls_in_json(data)):
            if not url.startswith(self._cdn):
                raise ReplayError(f"replay named an image outside the CDN: {_shown(url)}")
            ref = self._source.parse_image_url(url)
            if ref is not None and (ref.terminal, ref.stream) == (terminal, stream):
                refs.add(ref)
        return refs


def _read(response: httpx.Response, stream: str) -> bytes:
    """The answer's body, refused unless it is a 2xx JSON of at most MAX_JSON_BYTES."""
    if response.status_code == 404:
        # Says "no such camera" as often as "no such API": the browser decides which.
        raise ReplayEmpty(f"replay answered HTTP 404 for {stream}")
    if not response.is_success:
        raise ReplayError(f"replay answered HTTP {response.status_code}")
    kind = response.headers.get("content-type", "")
    if "json" not in kind:
        raise ReplayError(f"replay answered non-JSON ({_shown(kind) or 'no content type'})")
    too_big = ReplayError(f"replay answered more than the {MAX_JSON_BYTES:,} bytes it reads")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise too_big
    # Counted as it arrives, decompressed: a declared length may be absent or a lie.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def origin_of(url: str) -> Origin | None:
    """The scheme, host and port of an absolute http(s) ``url``; None if it has none."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def on_origin(url: str, origin: Origin) -> None:
    """Raise ReplayError unless ``url`` is on ``origin``: replay asks nothing elsewhere."""
    theirs = origin_of(url)
    if theirs is None:
        raise ReplayError(f"replay refused a link that does not parse: {_shown(url)}")
    if theirs != origin:
        scheme, host, port = origin
        raise ReplayError(f"replay refused a link off {scheme}://{host}:{port}: {_shown(url)}")


def _shown(text: str) -> str:
    """``text`` on one line and at most _SHOWN characters, for a refusal's reason."""
    line = " ".join(text.split())
    return line if len(line) <= _SHOWN else line[: _SHOWN - 1] + "…"


def _next_link(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for key in _NEXT_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    links = data.get("links")
    if isinstance(links, dict) and isinstance(links.get("next"), str):
        return str(links["next"]) or None
    return None


def disagreement(
    browser: set[ImageRef], replayed: set[ImageRef], known: frozenset[datetime] = frozenset()
) -> str | None:
    """Why replay and a browser listing of the same day disagree, or None if they agree.

    Images newer than the browser's newest were published in between, and images already
    archived may lie beyond where the browser stopped paging: neither is a disagreement.
    """
    missed = browser - replayed
    newest = max((ref.timestamp for ref in browser), default=None)
    extra = {
        ref
        for ref in replayed - browser
        if ref.timestamp not in known and newest is not None and ref.timestamp <= newest
    }
    if not missed and not extra:
        return None
    parts = []
    if missed:
        parts.append(f"replay missed {len(missed)} of the {len(browser)} images the browser saw")
    if extra:
        parts.append(f"replay listed {len(extra)} images the browser did not")
    return ", ".join(parts)
