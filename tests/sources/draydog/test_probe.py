"""`gatecam probe`: one discovery written as a bundle a user can send, failure included."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gatecam.sources.draydog.probe import BUNDLE_FILES, probe
from gatecam.sources.draydog.standin import StandIn

pytestmark = pytest.mark.browser


def test_probe_writes_the_bundle_and_says_what_found_what(tmp_path: Path) -> None:
    with StandIn(variants=["json"]) as site:
        today = datetime.now(UTC).date()
        report = probe(site.source, "apm", "in_gate", today, tmp_path)
        published = len(site.catalogue.list("apm", "in_gate", today))
        site.inject("no_history", match="/terminal_cameras/apm?")
        short = replace(site.source, page_timeout=3)
        failed = probe(short, "apm", "in_gate", today, tmp_path / "x")
    assert report.ok and report.error is None
    assert report.images == published
    assert report.found_by["dom"] == 0 and report.found_by["json"] == published
    assert {p.name for p in tmp_path.iterdir()} >= set(BUNDLE_FILES)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["found_by"] == report.found_by and saved["steps"]
    assert "json" in "\n".join(report.lines())
    # The listing request it learned, and that replaying it gives what the browser saw.
    assert report.recipe is not None and report.recipe["method"] == "GET"
    assert report.recipe["url_template"].startswith(f"{site.url}/api/history?")
    assert report.replay["images"] == published and report.replay["disagreement"] is None
    assert any(line.startswith("replay: matches the browser") for line in report.lines())
    assert saved["recipe"] == report.recipe
    # A site failure is in the report and the bundle, never a traceback.
    assert not failed.ok and failed.error is not None
    assert failed.error.startswith("History section not found on")
    assert json.loads((tmp_path / "x" / "report.json").read_text())["error"] == failed.error
    assert (tmp_path / "x" / "screenshot.png").exists()


def test_probe_says_when_the_list_cannot_be_replayed(tmp_path: Path) -> None:
    with StandIn(variants=["embedded"]) as site:
        report = probe(site.source, "apm", "in_gate", datetime.now(UTC).date(), tmp_path)
    assert report.recipe is None
    assert (
        "replay: none, the page's list never came as JSON; discovery keeps the browser"
        in report.lines()
    )
