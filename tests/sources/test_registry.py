"""The site registry: GATECAM_SITE picks the camera site, and a second site is one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gatecam import sources
from gatecam.cli import app
from gatecam.database.engine import Database
from gatecam.database.models import Image
from gatecam.settings import DownloadConfig, load_settings
from gatecam.sources import build_source, register
from gatecam.sources.draydog import DrayDogSource
from gatecam.sources.draydog.standin import Catalogue, CatalogueSource, StandIn
from tests.helpers import add, iter_archive, run_main


@pytest.fixture
def registry() -> Iterator[None]:
    """The registry as shipped, given back after a test that adds sites to it."""
    shipped = dict(sources.SITES)
    yield
    sources.SITES.clear()
    sources.SITES.update(shipped)


def test_the_default_site_is_dray_dog_at_the_configured_addresses() -> None:
    settings = load_settings({"GATECAM_APP_URL": "http://127.0.0.1:9", "GATECAM_PAGE_TIMEOUT": "5"})
    source = build_source(settings)
    assert isinstance(source, DrayDogSource)
    assert (source.app_url, source.page_timeout) == ("http://127.0.0.1:9", 5.0)
    assert source.cadence == timedelta(minutes=10)


def test_importing_the_pipeline_loads_no_camera_site() -> None:
    # A fresh interpreter: this one has long imported Dray Dog for other tests.
    code = (
        "import sys, gatecam.archive, gatecam.downloader, gatecam.downloader.scheduler, "
        "gatecam.web\n"
        "print(sorted(m for m in sys.modules if m.startswith('gatecam.sources.draydog')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ("nosuch", "GATECAM_SITE: unknown site 'nosuch' (known: draydog)"),
        ("Dray Dog", "GATECAM_SITE: 'Dray Dog' is not a valid name"),
    ],
)
def test_an_unknown_site_is_one_line_and_exit_2_before_anything_is_made(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    site: str,
    message: str,
) -> None:
    monkeypatch.setenv("GATECAM_SITE", site)
    db_file = tmp_path / "gatecam.db"
    code, _out, err = run_main(
        capsys,
        "once",
        "--database-url",
        f"sqlite:///{db_file}",
        "--download-dir",
        str(tmp_path / "images"),
    )
    assert code == 2, err
    [line] = err.strip().splitlines()
    assert line.startswith(f"gatecam: error: {message}")
    assert not db_file.exists() and not (tmp_path / "images").exists()


def test_a_second_site_registered_by_name_archives_through_gatecam_once(
    registry: None, tmp_path: Path
) -> None:
    with StandIn(catalogue=Catalogue(scheduled=False)) as site:
        day = site.catalogue.today() - timedelta(days=1)
        stamps = add(site, "yard", "east_gate", day, count=4)
        seen: list[DownloadConfig] = []

        def toy(settings: DownloadConfig) -> CatalogueSource:
            seen.append(settings)
            return CatalogueSource(site)

        register("toy", toy)
        db_file = tmp_path / "toy.db"
        result = CliRunner().invoke(
            app,
            ["once", "--date", str(day), "--streams", "yard/east_gate"],
            env={
                "GATECAM_SITE": "toy",
                "GATECAM_DATABASE_URL": f"sqlite:///{db_file}",
                "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
            },
        )
    assert result.exit_code == 0, result.output
    # The factory was handed the settings the command read.
    assert [s.site for s in seen] == ["toy"]
    db = Database(f"sqlite:///{db_file}", create=False)
    try:
        with db.read_scope() as session:
            rows = session.execute(select(Image.terminal, Image.camera_id, Image.timestamp))
            held = sorted(tuple(row) for row in rows)
    finally:
        db.dispose()
    assert held == [("yard", "east_gate", ts) for ts in stamps]
    files = [ref for ref, _ in iter_archive(tmp_path / "images")]
    assert [ref.timestamp for ref in files] == stamps


def test_a_registered_site_answers_gatecam_probe(
    registry: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with StandIn(catalogue=Catalogue(scheduled=False)) as site:
        day = site.catalogue.today() - timedelta(days=1)
        add(site, "apm", "in_gate", day, count=2)
        register("toy", lambda settings: CatalogueSource(site))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("GATECAM_SITE", "toy")
            out_dir = tmp_path / "bundle"
            code, out, err = run_main(
                capsys, "probe", "--stream", "in_gate", "--date", str(day), "--out", str(out_dir)
            )
    assert code == 0, err
    assert out.startswith(f"OK: 2 images of {day}")
    assert (out_dir / "report.json").exists()
