"""Camera sources, by site name: each knows how to list what exists and how to address one image.

``SITES`` maps the name ``GATECAM_SITE`` gives to the factory that builds that site's
``Source`` from the settings. A factory is named by its ``module:function`` path and imported
only when its site is chosen, so importing the pipeline (the job, the archive, the web app)
loads no site's code, and the import graph the layer contracts check holds no edge from
the pipeline to any site. A second site is a folder ``sources/<site>/`` and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from pkgutil import resolve_name

from gatecam.errors import InvalidSetting
from gatecam.settings import DownloadConfig
from gatecam.sources.base import Source

__all__ = ["SITES", "SourceFactory", "build_source", "known_sites", "register"]

SourceFactory = Callable[[DownloadConfig], Source]

SITES: dict[str, SourceFactory | str] = {
    "draydog": "gatecam.sources.draydog:make_source",
}


def register(name: str, factory: SourceFactory | str) -> None:
    """Make ``name`` a site ``GATECAM_SITE`` may name, built by ``factory`` (or its path)."""
    SITES[name] = factory


def known_sites() -> list[str]:
    return sorted(SITES)


def build_source(settings: DownloadConfig) -> Source:
    """The Source of the site the settings name; InputError (exit 2) for an unknown one."""
    entry = SITES.get(settings.site)
    if entry is None:
        known = ", ".join(known_sites())
        raise InvalidSetting("site", f"unknown site {settings.site!r} (known: {known})")
    factory: SourceFactory = resolve_name(entry) if isinstance(entry, str) else entry
    return factory(settings)
