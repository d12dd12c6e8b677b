"""The page's templates and static files: Jinja2 with autoescape, and versioned assets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from gatecam.web import imageurls

# Static files by name, with their media type. A file's URL carries a hash of its bytes,
# so it can be cached for a year: a new release names new URLs.
MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


@cache
def assets() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in files("gatecam.web").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in MEDIA:
            body = entry.read_bytes()
            version = hashlib.sha256(body).hexdigest()[:12]
            found[entry.name] = Asset(body, MEDIA[suffix], version)
    return found


def static_url(name: str) -> str:
    return f"/static/{name}?v={assets()[name].version}"


def offset(moment: datetime) -> str:
    """The UTC offset as ``-07:00`` (strftime's ``%:z`` needs Python 3.12)."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def duration(span: timedelta, *, seconds: bool = True) -> str:
    """``42 s``, ``9 min 2 s``, ``2 h 05 min``, ``3 d 4 h``: coarser as spans grow."""
    total = int(abs(span).total_seconds())
    minutes, hours = total // 60, total // 3600
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{minutes} min" + (f" {total % 60} s" if total % 60 and seconds else "")
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def shown(moment: datetime, zone: Any, fmt: str = "%H:%M:%S") -> str:
    """``moment`` in ``zone`` as ``fmt`` followed by its offset."""
    local = moment.astimezone(zone)
    return f"{local.strftime(fmt)} {offset(local)}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("gatecam.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals["static"] = static_url
    env.globals["image_url"] = imageurls.image_url
    env.filters["duration"] = duration
    env.filters["shown"] = shown
    env.filters["offset_in"] = lambda moment, zone: offset(moment.astimezone(zone))
    env.filters["utc"] = lambda moment: moment.astimezone(UTC)
    env.filters["num"] = lambda n: f"{n:,}"
    return env


def render(template: str, **context: Any) -> Markup:
    return Markup(environment().get_template(template).render(**context))
