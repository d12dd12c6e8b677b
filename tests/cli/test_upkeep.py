"""verify and probe: the commands that look after the archive and the site's page."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from gatecam.sources.draydog.standin import StandIn
from tests.helpers import run_main


@pytest.mark.browser
def test_probe_writes_a_bundle_and_says_what_it_found(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    standin: StandIn,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("GATECAM_PAGE_TIMEOUT", "5")  # the broken page waits this long
    urls = ["--app-url", standin.app_url, "--cdn-url", standin.cdn_url]
    bundle = tmp_path / "bundle"
    code, out, err = run_main(capsys, "probe", "--stream", "in_gate", "--out", str(bundle), *urls)
    assert code == 0, err
    assert {p.name for p in bundle.iterdir()} >= {"screenshot.png", "page.html", "report.json"}
    report = json.loads((bundle / "report.json").read_text())
    assert report["version"] == importlib.metadata.version("gatecam")
    today = standin.catalogue.today()
    assert f"{len(standin.catalogue.list('apm', 'in_gate', today))} images" in out

    standin.inject("no_history", match="/terminal_cameras/", times=None)
    broken = tmp_path / "broken"
    code, out, err = run_main(
        capsys, "probe", "--stream", "apm/in_gate", "--out", str(broken), *urls
    )
    assert code == 1 and "History section not found" in out
    assert err.count("\n") == 1 and str(broken) in err


def test_verify_refuses_a_download_dir_that_does_not_exist_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    """A wrong or unmounted folder would make every row look lost: refuse, never mark."""
    missing = tmp_path / "not-mounted"
    code, _, err = run_main(
        capsys, "verify", "--database-url", database_url, "--download-dir", str(missing)
    )
    assert code == 2 and "does not exist" in err
    assert not missing.exists()
