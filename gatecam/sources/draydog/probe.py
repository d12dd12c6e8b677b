"""`gatecam probe`: one discovery against the configured site, kept as a bundle to send."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from gatecam import __version__
from gatecam.errors import GatecamError
from gatecam.sources.base import Listing
from gatecam.sources.draydog.browser import CameraPageBrowser
from gatecam.sources.draydog.replay import Replayer, ReplayError, disagreement, learn
from gatecam.sources.draydog.site import DrayDogSite
from gatecam.sources.draydog.trace import Artifacts, Trace

BUNDLE_FILES = ("screenshot.png", "page.html", "network.har", "report.json")


@dataclass
class ProbeReport:
    """What one probe found: images per strategy, per listed day, timings, and any error."""

    url: str
    day: str
    version: str = __version__
    images: int = 0
    found_by: dict[str, int] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    out_dir: str = ""
    # The listing request learned from the page (header values left out), and its replay.
    recipe: dict[str, Any] | None = None
    replay: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.images > 0

    def lines(self) -> list[str]:
        """A short human summary, one fact a line."""
        verdict = "OK" if self.ok else ("FAILED" if self.error else "NO IMAGES")
        out = [f"{verdict}: {self.images} images of {self.day} on {self.url}"]
        out[0] += f" in {self.seconds:.1f} s"
        if self.error:
            out.append(f"error: {self.error}")
        out.append("found by: " + ", ".join(f"{k} {v}" for k, v in self.found_by.items()))
        for entry in self.listed:
            out.append(
                f"  listed {entry['listing']}: {entry['addresses']} addresses, "
                f"{entry['pages']} page(s), {entry['scroll_steps']} scroll steps, "
                f"{entry['seconds']:.1f} s" + (", stopped at known" if entry["stopped"] else "")
            )
        out.append("steps: " + ", ".join(f"{name} {secs:.1f} s" for name, secs in self.steps))
        out.extend(self._replay_lines())
        out.append(f"bundle: {self.out_dir} ({', '.join(BUNDLE_FILES)})")
        return out

    def _replay_lines(self) -> list[str]:
        if self.recipe is None:
            if self.error is None:
                return [f"replay: none, {self.replay.get('why', '')}; discovery keeps the browser"]
            return []
        recipe = self.recipe
        headers = ", ".join(recipe["headers"]) or "none"
        lines = [f"replay recipe: {recipe['method']} {recipe['url_template']} (headers: {headers})"]
        if self.replay.get("error"):
            lines.append(f"replay: FAILED, {self.replay['error']}; discovery keeps the browser")
        elif self.replay.get("disagreement"):
            lines.append(
                f"replay: DOES NOT MATCH the browser, {self.replay['disagreement']}; "
                "discovery keeps the browser"
            )
        else:
            lines.append(
                f"replay: matches the browser, {self.replay['images']} images in "
                f"{self.replay['seconds'] * 1000:.0f} ms ({self.replay['requests']} request(s))"
            )
        return lines


def probe(source: DrayDogSite, terminal: str, stream: str, day: date, out_dir: Path) -> ProbeReport:
    """Run discovery once and write the bundle; a site failure is recorded, never raised.

    Bad names still raise InputError (nothing to probe). Chromium missing or a page that
    fails is written to report.json and returned in ``error``.
    """
    url = source.camera_page_url(terminal, stream)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ProbeReport(url=url, day=day.isoformat(), out_dir=str(out_dir))
    trace = Trace()
    started = time.monotonic()
    try:
        with CameraPageBrowser(
            source, chromium_path=source.chromium_path, timeout=source.page_timeout
        ) as browser:
            listing = browser.discover(
                terminal, stream, day, trace=trace, artifacts=Artifacts(out_dir)
            )
        report.images = len(listing.refs)
        report.found_by = listing.found_by
        _try_replay(report, source, trace, listing, terminal, stream, day)
    except GatecamError as exc:
        report.error = str(exc)
    report.seconds = round(time.monotonic() - started, 3)
    report.steps = trace.steps
    report.listed = [
        {
            "listing": label,
            "addresses": len(h.all()),
            "pages": h.pages,
            "scroll_steps": h.scroll_steps,
            "seconds": round(h.seconds, 3),
            "stopped": h.stopped_at_known,
        }
        for label, h in trace.harvests
    ]
    (out_dir / "report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def _try_replay(
    report: ProbeReport,
    source: DrayDogSite,
    trace: Trace,
    listing: Listing,
    terminal: str,
    stream: str,
    day: date,
) -> None:
    """Learn the page's listing request as the job would, replay it and compare."""
    recipe = learn(source, trace.data_requests, terminal, stream, day)
    if recipe is None:
        report.replay = {"why": "the page's list never came as JSON"}
        return
    report.recipe = {
        "method": recipe.method,
        "url_template": recipe.url_template,
        "headers": sorted(recipe.headers),
        "body_template": recipe.body_template,
    }
    started = time.monotonic()
    try:
        with httpx.Client(timeout=source.page_timeout) as client:
            today = datetime.now(UTC).date()
            replayed = Replayer(source, client).list_day(recipe, stream, day, today=today)
    except ReplayError as exc:
        report.replay = {"error": str(exc)}
        return
    report.replay = {
        "images": len(replayed.refs),
        "requests": replayed.requests,
        "seconds": round(time.monotonic() - started, 3),
        "disagreement": disagreement(set(listing.refs), replayed.refs),
    }
