"""`gatecam once` end to end: a run that stored less than it listed exits 1 with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue

pytestmark = pytest.mark.browser


@pytest.fixture
def site() -> Iterator[StandIn]:
    """Three images yesterday, so any hour of the day lists them."""
    with StandIn(catalogue=Catalogue(scheduled=False)) as standin:
        day = standin.catalogue.today() - timedelta(days=1)
        for minute in (5, 15, 25):
            standin.catalogue.add(
                "apm", "in_gate", datetime(*day.timetuple()[:3], 9, minute, 7, tzinfo=UTC)
            )
        yield standin


def once(site: StandIn, tmp_path: Path, cdn_url: str) -> subprocess.CompletedProcess[str]:
    day = site.catalogue.today() - timedelta(days=1)
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": f"sqlite:///{tmp_path / 'gatecam.db'}",
        "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
        "GATECAM_APP_URL": site.app_url,
        "GATECAM_CDN_URL": cdn_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "gatecam", "once", "--date", str(day)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_images_on_another_cdn_fail_once_with_one_line_naming_the_setting(
    site: StandIn, tmp_path: Path
) -> None:
    done = once(site, tmp_path, "https://cdn.elsewhere.example")

    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()  # no warning per image: one line
    assert line.startswith(
        "gatecam: error: apm/in_gate failed: 3 images of apm/in_gate are listed outside the "
        "configured CDN https://cdn.elsewhere.example, e.g. "
        f"{site.cdn_url}/apm/"
    )
    assert line.endswith(": set --cdn-url / GATECAM_CDN_URL to where they are")
    assert "3 listed, 0 stored" in done.stdout
    assert site.cdn_requests == 0


def test_bodies_cut_short_fail_once(site: StandIn, tmp_path: Path) -> None:
    site.inject("truncated", times=None)

    done = once(site, tmp_path, site.cdn_url)

    assert done.returncode == 1, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("gatecam: error: apm/in_gate failed: none of the 3 new images stored")
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "images").rglob("*.jpg"))
