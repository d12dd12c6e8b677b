"""The gatecam command as a user runs it: real processes, real stand-in site, real databases."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import io
import json
import logging
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from gatecam.archive import Archive
from gatecam.cli import _setup_logging
from gatecam.database.engine import Database
from gatecam.database.migrate import head_revision
from gatecam.database.models import DownloadRun, Image
from gatecam.model import NAME_MAX, check_name
from gatecam.sources.draydog.standin import Catalogue, StandIn
from gatecam.storage import LocalStore
from gatecam.web import create_app
from tests.fixtures_db import sqlite_only
from tests.helpers import GATECAM, free_port, gatecam, iter_archive, listed, run_main, wait_for
from tests.helpers import simulate as simulate_process

PG = "postgresql+psycopg://u:pw@127.0.0.1"


@pytest.fixture
def simulate() -> Iterator[str]:
    """`gatecam simulate` running in the background; yields its base URL."""
    with simulate_process() as url:
        yield url


@sqlite_only
@pytest.mark.browser
def test_once_archives_then_skips_then_picks_up_new_images(
    simulate: str, database_url: str, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    env = {
        "GATECAM_DATABASE_URL": database_url,
        "GATECAM_DOWNLOAD_DIR": str(images),
        "GATECAM_DRAYDOG_APP_URL": simulate,
        "GATECAM_DRAYDOG_CDN_URL": f"{simulate}/cdn",
    }
    day = datetime.now(UTC).date() - timedelta(days=3)
    first = gatecam("once", "--date", str(day), "--streams", "in_gate,out_gate", env=env)
    assert first.returncode == 0, first.stderr
    # Each run's line once, on stdout; the log says nothing of a scheduler `once` never ran.
    assert first.stdout.count("apm/in_gate ") == first.stdout.count("apm/out_gate ") == 1
    assert " listed" not in first.stderr and "scheduler" not in first.stderr
    archived = sorted((ref.stream, ref.timestamp) for ref, _ in iter_archive(images))
    # The Los Angeles day spans two UTC dates of the site: both are listed and stored.
    assert f"{day},{day + timedelta(days=1)}: " in first.stdout
    expected = sorted(
        (stream, ts)
        for stream in ("in_gate", "out_gate")
        for date in (day, day + timedelta(days=1))
        for ts in listed(simulate, date, stream)
    )
    assert archived == expected and len(expected) > 400

    before = {path: path.stat().st_mtime_ns for _, path in iter_archive(images)}
    second = gatecam("once", "--date", str(day), "--streams", "in_gate,out_gate", env=env)
    assert second.returncode == 0, second.stderr
    assert "0 stored" in second.stdout
    assert {path: path.stat().st_mtime_ns for _, path in iter_archive(images)} == before

    new = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    httpx.post(
        f"{simulate}/_standin/images",
        json={"terminal": "apm", "stream": "in_gate", "timestamp": new.isoformat()},
    ).raise_for_status()
    today = gatecam("once", env=env)
    assert today.returncode == 0, today.stderr
    assert (images / "apm" / "in_gate" / f"{new:%Y-%m-%d}" / f"{new:%H%M%S}.jpg").is_file()

    stats = gatecam("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["total_downloaded"] == len(list(iter_archive(images)))
    assert data["downloads_by_stream"]["out_gate"] == sum(
        len(listed(simulate, date, "out_gate")) for date in (day, day + timedelta(days=1))
    )
    assert data["successful_runs"] == data["total_runs"] == 5
    assert datetime.fromisoformat(data["last_download"]).utcoffset() == timedelta(0)

    assert gatecam("verify", env=env).returncode == 0
    lost = next(path for ref, path in iter_archive(images) if ref.timestamp.date() == day)
    lost.unlink()
    check = gatecam("verify", env=env)
    assert check.returncode == 1 and "file is gone: 1" in check.stdout
    assert gatecam("verify", "--repair", env=env).returncode == 0
    # The row marked missing is fetched again by the next pass over its day.
    again = gatecam("once", "--date", str(day), env=env)
    assert again.returncode == 0, again.stderr
    assert lost.is_file()
    assert gatecam("verify", env=env).returncode == 0


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["once", "--date", "2025-02-30"], {}, "--date: '2025-02-30' is not a date"),
        (["once", "--date", "yesterday"], {}, "--date: 'yesterday' is not a date"),
        (["once", "--date", "2999-01-01"], {}, "in the future"),
        (["backfill", "--from", "2025-09-05", "--to", "2025-09-01"], {}, "is after --to"),
        (["run", "--interval", "0"], {}, "--interval: Input should be greater than or equal to"),
        (["run"], {"GATECAM_INTERVAL_MINUTES": "-5"}, "GATECAM_INTERVAL_MINUTES"),
        (["once"], {"GATECAM_COLOUR": "blue"}, "unknown setting GATECAM_COLOUR"),
        (["once", "--streams", "in_gate,../x"], {}, "--streams: '../x': '..' is not a valid name"),
        (["once", "--terminal", "APM"], {}, "--terminal"),
        (["once", "--database-url", "nonsense"], {}, "database URL is malformed"),
        (["once", "--database-url", "sqlite:////etc/passwd/x.db"], {}, "/etc/passwd"),
        (["once", "--download-dir", "/proc/forbidden"], {}, "--download-dir"),
        (["once", "--download-dir", "/sys/gatecam"], {}, "--download-dir"),
        (["stats", "--database-url", "sqlite:///nothing/x.db"], {}, "no database at"),
        (["web", "--database-url", "sqlite:///nothing/x.db"], {}, "no database at"),
        (["verify", "--database-url", "sqlite:///nothing/x.db"], {}, "no database at"),
        (["web", "--port", "99999"], {}, "--port"),
        (["once", "--streams", "apm/in_gate/x"], {}, "--streams"),
        (["once", "--app-url", "ftp://x"], {}, "--app-url"),
        (["once", "--bogus"], {}, "No such option: --bogus"),
        (["once", "--database-url", f"{PG}:notaport/db"], {}, "database URL is malformed"),
        (["once", "--database-url", "postgresql+psycopg://u:pw@[::1/db"], {}, "malformed"),
        (["once", "--database-url", f"{PG}/db?connect_timeout=abc"], {}, "connect_timeout"),
        (["once", "--database-url", "sqlite:///sub/x.db?timeout=abc"], {}, "not usable"),
        (["once", "--streams", "x" * 300], {}, "--streams: 'xxxxxxxxxxxxxxxxxxxx'... is 300"),
        (["once", "--streams", "apm/" + "x" * 65], {}, "65 characters long (at most 64)"),
        (["once", "--streams", "-"], {}, "--streams: '-' is not a valid name"),
        (["once"], {"GATECAM_STREAMS": "_"}, "GATECAM_STREAMS: '_' is not a valid name"),
        (["once", "--terminal", "-apm"], {}, "starting with a letter or digit"),
        (["once", "--date", ""], {}, "--date: '' is not a date"),
        (["probe", "--stream", "in_gate", "--date", ""], {}, "--date: '' is not a date"),
        (["once", "--download-dir", "a-file"], {}, "a-file is a file, not a folder"),
        (["once", "--download-dir", "a-file/images"], {}, "a-file is a file, not a folder"),
        (["run", "--web", "--port", "{busy}"], {}, "--port / --host: cannot listen on"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("in the way")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        code, _out, err = run_main(capsys, *(arg.replace("{busy}", port) for arg in args))
    assert code == 2
    assert err.startswith("gatecam: error: ") and err.count("\n") == 1
    assert message in err
    assert "pw@" not in err
    # No database, no download folder: only the file the test put there.
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
    assert (tmp_path / "a-file").read_text() == "in the way"


def test_a_valid_name_always_fits_its_columns() -> None:
    """Names are refused at input, never by the database (SQLite would store a longer one)."""
    columns = [Image.terminal, Image.camera_id, DownloadRun.terminal, DownloadRun.camera_id]
    assert {column.type.length for column in columns} == {NAME_MAX}  # type: ignore[attr-defined]
    assert check_name("a" * NAME_MAX, "--streams")


def test_unusable_download_dir_is_rejected_before_the_database_is_touched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A path under a regular file cannot be created, even by root (CI runs as root).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    code, _, err = run_main(
        capsys,
        "once",
        "--download-dir",
        str(blocker / "images"),
        "--database-url",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    assert code == 2 and "--download-dir" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_log_lines_have_one_iso_format_on_a_terminal_and_off_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Backfill logs through its bar's console on a terminal: the lines look the same."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=60, soft_wrap=True)
    long = "SIGINT received: finishing the batch in flight " + "x" * 60
    try:
        _setup_logging(console=terminal)
        logging.getLogger("gatecam").info(long)
        _setup_logging()
        logging.getLogger("gatecam").info(long)
    finally:
        root.handlers[:], root.level = saved
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    for output in (shown, capsys.readouterr().err):
        line = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 INFO " + re.escape(long) + "\n"
        assert re.fullmatch(line, output), output


@sqlite_only
def test_the_version_is_on_the_command_line_and_in_healthz(
    capsys: pytest.CaptureFixture[str], database: Database, tmp_path: Path
) -> None:
    """A bug report names the version; a monitor reads it from /healthz."""
    installed = importlib.metadata.version("gatecam")
    code, out, _ = run_main(capsys, "--version")
    assert (code, out) == (0, f"gatecam {installed}\n")

    async def healthz() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(Archive(database, LocalStore(tmp_path))))
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get("/healthz")

    assert asyncio.run(healthz()).json()["version"] == installed


def test_stats_json_is_one_object_with_every_key(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    code, out, _ = run_main(capsys, "stats", "--json", "--database-url", database_url)
    assert code == 0
    data = json.loads(out)
    assert data["total_downloaded"] == 0 and data["last_download"] is None
    # The statistics' twelve keys, and each stream's state (none has run yet).
    assert len(data) == 13 and data["streams"] == {}


def test_stats_names_an_unknown_terminal(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    code, _, err = run_main(capsys, "stats", "--terminal", "zzz", "--database-url", database_url)
    assert code == 2 and "no terminal 'zzz'" in err and err.count("\n") == 1


def test_a_database_server_that_is_down_is_not_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A script retries exit 3 later, and fixes its input on exit 2."""
    monkeypatch.chdir(tmp_path)
    url = "postgresql+psycopg://u:pw@127.0.0.1:9/x"
    code, _, err = run_main(capsys, "once", "--database-url", url)
    assert code == 3 and "cannot connect" in err and "pw@" not in err
    code, _, err = run_main(capsys, "stats", "--database-url", url)
    assert code == 3


def test_db_upgrade_then_stats_on_a_new_database(
    capsys: pytest.CaptureFixture[str], empty_database_url: str
) -> None:
    code, out, _ = run_main(capsys, "db", "upgrade", "--database-url", empty_database_url)
    assert code == 0 and out.endswith(f": upgraded none → {head_revision()}\n")  # what it did
    code, out, _ = run_main(capsys, "db", "upgrade", "--database-url", empty_database_url)
    assert code == 0 and f"already at the latest schema ({head_revision()})" in out
    code, out, _ = run_main(capsys, "stats", "--database-url", empty_database_url)
    assert code == 0 and "total_downloaded" in out


# The command on one backend: the web layer's reads on both are tested in-process (tests/web).
@sqlite_only
def test_web_serves_the_archive_until_sigterm(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*GATECAM, "web", "--port", str(port), "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )

    def answering() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).is_success
        return False

    try:
        wait_for(answering, "gatecam web to answer", proc=proc)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{port}" in out


@pytest.fixture
def few_images() -> Iterator[StandIn]:
    """A stand-in whose last five days hold six images each, on a stopped clock.

    Few images keep each day's page and downloads short; the stopped clock keeps the days
    the same for the site and the test, even across UTC midnight.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    with StandIn(catalogue=Catalogue(clock=lambda: now, scheduled=False)) as site:
        for back in range(1, 6):
            midnight = datetime.combine(now.date() - timedelta(days=back), clock_time(), UTC)
            for n in range(6):
                site.catalogue.add("apm", "in_gate", midnight + timedelta(hours=4 * n, seconds=n))
        yield site


@sqlite_only
@pytest.mark.browser
def test_backfill_archives_each_day_and_skips_what_is_archived(
    capsys: pytest.CaptureFixture[str], few_images: StandIn, database_url: str, tmp_path: Path
) -> None:
    standin = few_images
    today = standin.catalogue.today()
    first, second, third = (today - timedelta(days=n) for n in (4, 3, 2))
    common = [
        "--database-url",
        database_url,
        "--download-dir",
        str(tmp_path),
        "--app-url",
        standin.app_url,
        "--cdn-url",
        standin.cdn_url,
    ]
    code, out, err = run_main(
        capsys, "backfill", "--from", str(first), "--to", str(second), *common
    )
    assert code == 0, err
    # The Los Angeles days span one more UTC date of the site: each date is one run.
    days = {first, second, third}
    assert out.count(" listed, ") == 3
    archived = sorted(ref.timestamp for ref, _ in iter_archive(tmp_path))
    assert archived == sorted(
        ts for day in days for ts in standin.catalogue.list("apm", "in_gate", day)
    )
    before = {path: path.stat().st_mtime_ns for _, path in iter_archive(tmp_path)}

    code, out, err = run_main(capsys, "backfill", "--from", str(first), "--to", str(third), *common)

    assert code == 0, err
    assert out.count(" 0 stored") == 3  # the three UTC dates already archived
    assert {p: p.stat().st_mtime_ns for p in before} == before
    third_day = [
        ref.timestamp for ref, _ in iter_archive(tmp_path) if ref.timestamp.date() == third
    ]
    assert sorted(third_day) == sorted(standin.catalogue.list("apm", "in_gate", third))


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
