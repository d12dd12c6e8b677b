"""Stand-in site fixtures: a real local Dray Dog page and CDN on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gatecam.sources.draydog.standin import StandIn

__all__ = ["standin"]


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A started stand-in site with today's schedule; stopped after the test."""
    with StandIn() as site:
        yield site
