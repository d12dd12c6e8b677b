"""Dray Dog (app.draydog.com): its CDN addresses, and its camera page read in Chromium or replayed.

``site`` holds its addresses. The page is an Element UI single-page app: ``browser`` drives
it in Debian's Chromium, ``pagereader`` and ``datepicker`` know its markup, ``network``
watches its requests, ``replay`` learns the request that carries a day's list and
``discovery`` replays it over HTTP, falling back to the browser; ``source`` puts them
together as the Source the job uses; ``probe`` bundles one discovery for a bug report.
"""

from gatecam.sources.draydog.source import DrayDogSource, make_source

__all__ = ["DrayDogSource", "make_source"]
