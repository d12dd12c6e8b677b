"""gatecam touches only the files it wrote, and refuses folders that hold far more than an archive.

Real folders, the real command (``main``), a real stand-in site for ``once``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest

from gatecam.errors import InvalidSetting
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.storage.local import LocalStore, write_atomic
from gatecam.storage.ownership import refuse_shared_folder
from tests.fixtures_db import sqlite_only
from tests.helpers import run_main

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"
DAY = "apm/in_gate/2026-12-01"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder`` with its bytes and mtime: what a user would see changed."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def aged(path: Path, data: bytes, minutes: int = 60) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - minutes * 60
    os.utime(path, (then, then))
    return path


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, list[Path], Path]:
    """A download folder shared with other files: (folder, foreign files, a stale gatecam part)."""
    folder = tmp_path / "shared"
    write_atomic(folder / DAY / "120000.jpg", JPEG)
    foreign = [
        aged(folder / "Downloads/film.mkv.part", b"x\n"),
        aged(folder / DAY / "notes.txt.part", b"camera moved\n"),
    ]
    stale = aged(folder / DAY / ".120500.jpg.0123456789ab.part", JPEG[:20])
    return folder, foreign, stale


def test_verify_reports_foreign_files_and_repair_removes_only_gatecams_part(
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    shared: tuple[Path, list[Path], Path],
) -> None:
    folder, foreign, stale = shared
    common = ["--database-url", database_url, "--download-dir", str(folder)]
    # The image gets its row; only gatecam's stale part is left as a problem.
    code, out, err = run_main(capsys, "verify", "--repair", *common)
    assert code == 0, err
    assert "leftover .part files: 1 (1 removed)" in out
    assert not stale.exists()
    assert [path.read_bytes() for path in foreign] == [b"x\n", b"camera moved\n"]

    # Foreign files alone never make verify fail: a note, exit 0.
    code, out, err = run_main(capsys, "verify", *common)
    assert code == 0, err
    assert "foreign files, not gatecam's (left alone): 2" in out
    assert "  Downloads/film.mkv.part: " in out and f"  {DAY}/notes.txt.part: " in out
    assert out.rstrip().endswith("consistent") and "NOT" not in out
    assert [path.read_bytes() for path in foreign] == [b"x\n", b"camera moved\n"]


@sqlite_only
@pytest.mark.browser
def test_once_removes_only_gatecams_stale_part_at_start(
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    shared: tuple[Path, list[Path], Path],
) -> None:
    folder, foreign, stale = shared
    now = datetime.now(UTC).replace(microsecond=0)
    day = now.date() - timedelta(days=1)
    with StandIn(catalogue=Catalogue(clock=lambda: now, scheduled=False)) as site:
        site.catalogue.add("apm", "in_gate", datetime.combine(day, clock_time(1), UTC))
        code, _, err = run_main(
            capsys,
            "once",
            *("--date", str(day), "--streams", "in_gate"),
            *("--database-url", database_url, "--download-dir", str(folder)),
            *("--app-url", site.app_url, "--cdn-url", site.cdn_url),
        )
    assert code == 0, err
    assert "removed 1 partial files" in err
    assert not stale.exists()
    assert [path.read_bytes() for path in foreign] == [b"x\n", b"camera moved\n"]


def test_verify_does_not_take_the_thumbnail_cache_for_foreign_files(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    write_atomic(folder / DAY / "120000.jpg", JPEG)
    # What the web app's ThumbnailCache keeps: <folder>/.thumbs/<id // 1000>/<id>.jpg
    write_atomic(folder / ".thumbs/0/1.jpg", JPEG)
    common = ["--database-url", database_url, "--download-dir", str(folder)]
    assert run_main(capsys, "verify", "--repair", *common)[0] == 0

    code, out, err = run_main(capsys, "verify", *common)
    assert code == 0, err
    assert ".thumbs" not in out and "foreign" not in out
    assert (folder / ".thumbs/0/1.jpg").read_bytes() == JPEG


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    yield folder


# `run` starts through the same door as `once`; a test of it would never end on a regression.
@pytest.mark.parametrize("command", ["once", "verify --repair"])
def test_the_home_folder_holding_other_files_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, home: Path, command: str
) -> None:
    (home / ".bashrc").write_text("export PS1='$ '\n")
    aged(home / "Downloads/film.mkv.part", b"x\n")
    before = snapshot(home)
    db_file = tmp_path / "gatecam.db"
    database = f"sqlite:///{db_file}"
    if command.startswith("verify"):  # verify reads an existing database only
        assert run_main(capsys, "db", "upgrade", "--database-url", database)[0] == 0
    code, _, err = run_main(
        capsys, *command.split(), "--database-url", database, "--download-dir", str(home)
    )
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"gatecam: error: --download-dir / GATECAM_DOWNLOAD_DIR: {home} ")
    assert "is your home folder and holds other files" in err
    assert snapshot(home) == before
    assert sorted(p.name for p in home.iterdir()) == [".bashrc", "Downloads"]
    assert db_file.exists() == command.startswith("verify")  # once made none


def test_the_root_and_system_folders_are_refused() -> None:
    # Called directly: through a command, a regression would walk the whole host's disk.
    for folder, what in [("/", "the root folder"), ("/etc", "a system folder")]:
        with pytest.raises(InvalidSetting, match=f"{folder} is {what} and holds other files"):
            refuse_shared_folder(Path(folder))
    # `verify` and `web` ask this first (opening for writing refuses the same way).
    with pytest.raises(InvalidSetting, match="the root folder"):
        LocalStore("/").exists()


@sqlite_only
@pytest.mark.browser
def test_an_empty_home_folder_becomes_an_archive_and_stays_accepted(
    capsys: pytest.CaptureFixture[str], database_url: str, home: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    day = now.date() - timedelta(days=1)
    common = ["--database-url", database_url, "--download-dir", str(home)]
    with StandIn(catalogue=Catalogue(clock=lambda: now, scheduled=False)) as site:
        site.catalogue.add("apm", "in_gate", datetime.combine(day, clock_time(1), UTC))
        site_args = ["--app-url", site.app_url, "--cdn-url", site.cdn_url]
        code, _, err = run_main(
            capsys, "once", "--date", str(day), "--streams", "in_gate", *common, *site_args
        )
        assert code == 0, err
        assert (home / ".gatecam-archive").is_file()
        # An archive now: other files may arrive beside it, and are left alone.
        (home / ".bashrc").write_text("export PS1='$ '\n")
        code, _, err = run_main(
            capsys, "once", "--date", str(day), "--streams", "in_gate", *common, *site_args
        )
        assert code == 0, err
    code, out, err = run_main(capsys, "verify", *common)
    assert code == 0, err
    # Chromium keeps its profile in the home folder too: foreign files, all left alone.
    assert "checked 1 database rows and 1 files" in out and "  .bashrc: " in out
    assert (home / ".bashrc").read_text() == "export PS1='$ '\n"


def test_a_home_folder_holding_an_older_archive_is_accepted(
    capsys: pytest.CaptureFixture[str], database_url: str, home: Path
) -> None:
    # An archive written before the marker existed has the writers' lock file.
    (home / ".gatecam.lock").write_bytes(b"")
    write_atomic(home / DAY / "120000.jpg", JPEG)
    (home / ".bashrc").write_text("export PS1='$ '\n")
    common = ["--database-url", database_url, "--download-dir", str(home)]
    code, out, err = run_main(capsys, "verify", "--repair", *common)
    assert code == 0, err
    assert "files with no row: 1 (1 indexed)" in out
    assert (home / ".bashrc").is_file()
