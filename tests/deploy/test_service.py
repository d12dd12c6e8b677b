"""gatecam as a systemd service: the unit passes systemd's own check, logs suit the journal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gatecam.cli import main
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def gatecam(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command in this process: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    printed = capsys.readouterr()
    return int(exited.value.code or 0), printed.out, printed.err


def _unit_settings(unit: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#")


def test_printed_unit_runs_this_installation_and_passes_systemd_analyze_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "etc" / "gatecam.env"
    code, printed, err = gatecam(
        capsys, "systemd-unit", "--env-file", str(env_file), "--user", "gatecam"
    )
    assert code == 0, err
    unit = tmp_path / "gatecam.service"
    unit.write_text(printed)

    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr  # systemd warns on stderr about any bad line

    settings = _unit_settings(printed)
    script = Path(sys.executable).parent / "gatecam"
    assert settings["ExecStart"] == f"{script} run --web --host 127.0.0.1 --port 8080"
    assert settings["EnvironmentFile"] == str(env_file)
    assert settings["User"] == "gatecam"
    assert settings["Restart"] == "on-failure"
    # Bad settings exit 2: a restart loop would not fix them.
    assert settings["RestartPreventExitStatus"] == "2"
    # A stop waits out the batch in flight: 13 rounds of 8 downloads with a 30 s timeout each.
    assert int(settings["TimeoutStopSec"]) >= 13 * 30


def test_unit_without_web_and_a_relative_env_file_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, printed, err = gatecam(capsys, "systemd-unit", "--no-web")
    assert code == 0, err
    assert _unit_settings(printed)["ExecStart"].endswith("gatecam run")
    assert _unit_settings(printed)["EnvironmentFile"] == "/etc/gatecam/gatecam.env"

    code, printed, err = gatecam(capsys, "systemd-unit", "--env-file", "gatecam.env")
    assert code == 2
    assert err.strip().splitlines() == [
        "gatecam: error: --env-file: gatecam.env must be an absolute path (systemd needs one)"
    ]


def test_log_lines_under_systemd_carry_a_priority_and_no_second_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    (tmp_path / "images").mkdir()
    args = ("verify", "--database-url", url, "--download-dir", str(tmp_path / "images"))

    code, _out, err = gatecam(capsys, *args)
    assert code == 0, err
    [line] = [x for x in err.splitlines() if "verify" in x]
    assert ISO_TIME.search(line), line

    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef")  # set by systemd for a service
    code, _out, err = gatecam(capsys, *args)
    assert code == 0, err
    [line] = [x for x in err.splitlines() if "verify" in x]
    # The journal stamps each line itself; <6> is its "info" priority.
    assert line.startswith("<6>INFO verify "), line
    assert not ISO_TIME.search(line), line
