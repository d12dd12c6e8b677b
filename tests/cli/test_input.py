"""Bad input to any command: one line, exit 2, nothing written; an outage is exit 3."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gatecam.database.models import DownloadRun, Image
from gatecam.model import NAME_MAX, check_name
from tests.helpers import run_main

PG = "postgresql+psycopg://u:pw@127.0.0.1"


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
