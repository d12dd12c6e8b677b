"""Settings come from people: each bad one is one line, exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import free_port, run_main


def _refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
) -> str:
    """Run gatecam in an empty folder; return its one error line after checking the rest."""
    monkeypatch.chdir(tmp_path)
    # A site that is not there: were a setting let through, the run would fail fast, not hang.
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GATECAM_APP_URL", closed)
    monkeypatch.setenv("GATECAM_CDN_URL", closed)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    code, _out, err = run_main(capsys, *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert code == 2, err
    assert err.startswith("gatecam: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    # No database file, no download folder, no database folder.
    assert list(tmp_path.iterdir()) == []
    return err


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        # A cut-off before year 1 would fail every run with OverflowError.
        (["once", "--retention-days", "800000"], {}, "--retention-days: "),
        (["once", "--retention-days", str(10**20)], {}, "--retention-days: "),
        (["once"], {"GATECAM_RETENTION_DAYS": "1e9"}, "GATECAM_RETENTION_DAYS: "),
        # Rows in memory vanish at exit: an archive needs a file.
        (["once", "--database-url", "sqlite://"], {}, "in memory"),
        (["once", "--database-url", "sqlite:///"], {}, "in memory"),
        (["once", "--database-url", "sqlite:///:memory:"], {}, "in memory"),
        (["once"], {"DATABASE_URL": "sqlite:///:memory:"}, "DATABASE_URL: "),
        (["once", "--database-url", "sqlite:///{tmp}/x/"], {}, "names a folder"),
        # A job every 60 microseconds would hammer the site and never finish a listing.
        (["once"], {"GATECAM_INTERVAL_MINUTES": "1e-9"}, "greater than or equal to 0.05"),
        (["once"], {"GATECAM_INTERVAL_MINUTES": "nan"}, "a finite number"),
        (["once"], {"GATECAM_INTERVAL_MINUTES": "inf"}, "a finite number"),
        (["once"], {"GATECAM_PAGE_TIMEOUT": "nan"}, "PAGE_TIMEOUT: Input should be a finite"),
        # URLs that name no server to ask.
        (["once"], {"GATECAM_APP_URL": "http://"}, "GATECAM_APP_URL: 'http://' is not an http(s)"),
        (["once"], {"GATECAM_APP_URL": "http://127.0.0.1:"}, "the port is missing"),
        (["once"], {"GATECAM_APP_URL": "http://127.0.0.1:99999"}, "from 1 to 65535"),
        (["once", "--app-url", "http://127.0.0.1:0"], {}, "--app-url: "),
        (["once"], {"GATECAM_CDN_URL": "http://"}, "names no host"),
        (["once", "--cdn-url", "ftp://cdn.example"], {}, "http:// or https://"),
        (["once"], {"GATECAM_S3_ENDPOINT_URL": "http://:9000"}, "GATECAM_S3_ENDPOINT_URL: "),
    ],
)
def test_a_bad_setting_is_one_line_exit_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    err = _refused(capsys, monkeypatch, tmp_path, args, env)
    assert message in err


def test_the_interval_flag_is_bounded_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    err = _refused(capsys, monkeypatch, tmp_path, ["alert-rules", "--interval", "nan"], {})
    assert "--interval: Input should be a finite number" in err


@pytest.mark.parametrize("value", ["0.05", "0.1", "1440"])
def test_the_interval_bounds_themselves_are_accepted(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, out, err = run_main(capsys, "alert-rules", "--interval", value)
    assert code == 0, err
    assert "groups:" in out


@pytest.mark.parametrize("target", ["sqlite://", "sqlite:///:memory:", "sqlite:///{tmp}/copies/"])
def test_db_copy_refuses_a_target_that_would_keep_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    target: str,
) -> None:
    # The source must be real, so the target is what is judged: an archive made by `db upgrade`.
    source = tmp_path_factory.mktemp("source") / "gatecam.db"
    code, _, err = run_main(capsys, "db", "upgrade", "--database-url", f"sqlite:///{source}")
    assert code == 0, err
    monkeypatch.setenv("GATECAM_DATABASE_URL", f"sqlite:///{source}")
    err = _refused(capsys, monkeypatch, tmp_path, ["db", "copy", "--to", target], {})
    assert "--to: " in err


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("GATECAM_STREAM", "did you mean GATECAM_STREAMS?"),
        ("GATECAM_DATABASE", "did you mean GATECAM_DATABASE_URL?"),
        ("GATECAM_INTERVAL", "did you mean GATECAM_INTERVAL_MINUTES?"),
        # Near no setting: every name, to pick from.
        ("GATECAM_COLOUR", "known: GATECAM_APP_URL, GATECAM_BATCH_SIZE, "),
    ],
)
def test_an_unknown_variable_names_the_nearest_setting(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    hint: str,
) -> None:
    err = _refused(capsys, monkeypatch, tmp_path, ["once"], {variable: "x"})
    assert err.startswith(f"gatecam: error: unknown setting {variable}; {hint}")
