"""Learn, then replay: a camera page's listing request, asked again over plain HTTP.

The camera page is a script-rendered app that gets its list from some request. When that
answer is JSON naming the day's images, the request becomes a recipe (method, URL template
with the day, stream and page as markers, and the headers it sent); replaying it costs
milliseconds where the browser costs seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

import httpx

from gatecam.model import ImageRef, Recipe
from gatecam.sources.draydog.network import DataRequest, urls_in_json
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
        page = 1
        url = fill(recipe.url_template, terminal, stream, site_day, page)
        found: set[ImageRef] = set()
        for asked in range(1, MAX_PAGES + 1):
            data = self._ask(recipe, url, stream, site_day, page)
            refs = self._refs(data, terminal, stream)
            new = refs - found
            found |= refs
            of_day = [ref.timestamp for ref in new if ref.timestamp.date() == day]
            if known and of_day and min(of_day) in known:
                return found, asked, True  # reached archived images, as the browser does
            link = _next_link(data)
            if link and urljoin(url, link) != url:
                url = urljoin(url, link)
            elif recipe.paged and new:
                page += 1
                url = fill(recipe.url_template, terminal, stream, site_day, page)
            else:
                return found, asked, False
        raise ReplayError(f"replay was still paging after {MAX_PAGES} requests")

    def _ask(self, recipe: Recipe, url: str, stream: str, day: date, page: int) -> Any:
        body = recipe.body_template
        content = None if body is None else fill(body, recipe.terminal, stream, day, page)
        try:
            response = self._client.request(
                recipe.method, url, headers=recipe.headers, content=content
            )
        except httpx.HTTPError as exc:
            raise ReplayError(f"replay request failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 404:
            # Says "no such camera" as often as "no such API": the browser decides which.
            raise ReplayEmpty(f"replay answered HTTP 404 for {stream}")
        if not response.is_success:
            raise ReplayError(f"replay answered HTTP {response.status_code}")
        kind = response.headers.get("content-type", "")
        try:
            if "json" not in kind:
                raise ValueError(kind)
            return json.loads(response.content)
        except ValueError as exc:
            raise ReplayError(f"replay answered non-JSON ({kind or 'no content type'})") from exc

    def _refs(self, data: Any, terminal: str, stream: str) -> set[ImageRef]:
        refs: set[ImageRef] = set()
        for url in set(urls_in_json(data)):
            if not url.startswith(self._cdn):
                raise ReplayError(f"replay named an image outside the CDN: {url}")
            ref = self._source.parse_image_url(url)
            if ref is not None and (ref.terminal, ref.stream) == (terminal, stream):
                refs.add(ref)
        return refs


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
