"""What one discovery did and left behind: its timed steps, harvests, and the probe's files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from gatecam.sources.draydog.network import DataRequest
from gatecam.sources.draydog.pagereader import Harvest


@dataclass
class Trace:
    """What one discovery did, for `gatecam probe` and the logs."""

    steps: list[tuple[str, float]] = field(default_factory=list)
    harvests: list[tuple[str, Harvest]] = field(default_factory=list)
    # The page's requests whose JSON named images: what a replay recipe is learned from.
    data_requests: list[DataRequest] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps.append((name, round(time.monotonic() - started, 3)))


@dataclass(frozen=True)
class Artifacts:
    """Where `gatecam probe` wants the screenshot, DOM and HAR of a discovery."""

    out_dir: Path

    @property
    def har(self) -> Path:
        return self.out_dir / "network.har"


def save_page(page: Page, artifacts: Artifacts) -> None:
    """Screenshot and DOM of the page as discovery left it; never fails the probe."""
    with suppress(PlaywrightError):
        page.screenshot(path=str(artifacts.out_dir / "screenshot.png"), full_page=True)
    with suppress(PlaywrightError):
        (artifacts.out_dir / "page.html").write_text(page.content(), encoding="utf-8")
