"""The shipped Prometheus alerting rules, run by promtool on series that fire and that do not."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gatecam.cli import main

APM_IN = {"terminal": "apm", "stream": "in_gate"}
APM_OUT = {"terminal": "apm", "stream": "out_gate"}
FMS_IN = {"terminal": "fms", "stream": "in_gate"}


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def _alert(labels: dict[str, str], summary: str, **more: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "warning", **labels},
        "exp_annotations": {"summary": summary, **more},
    }


def _check(name: str, at_minutes: int, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": f"{at_minutes}m", "alertname": name, "exp_alerts": alerts}


# 90 minutes of scrapes, one a minute. Each rule sees a stream in trouble and one that is fine.
SERIES = [
    # apm/in_gate's last success stays at time 0; apm/out_gate's keeps up with the clock.
    _series("gatecam_archive_last_success_timestamp_seconds", APM_IN, "0x90"),
    _series("gatecam_archive_last_success_timestamp_seconds", APM_OUT, "0+60x90"),
    # apm/in_gate stopped growing; apm/out_gate gains an image every 10 minutes; fms/in_gate
    # has runs but never an image or a success.
    _series("gatecam_archive_images_total", APM_IN, "100x90"),
    _series("gatecam_archive_images_total", APM_OUT, "100+0.1x90"),
    _series("gatecam_archive_images_total", FMS_IN, "0x90"),
    # apm/in_gate fails 60 of 66 images an hour; apm/out_gate 6 of 66 (under a quarter);
    # fms/in_gate fails all it tries, but only about one an hour (under 3).
    _series("gatecam_downloads_total", {**APM_IN, "outcome": "failed"}, "0+1x90"),
    _series("gatecam_downloads_total", {**APM_IN, "outcome": "downloaded"}, "0+0.1x90"),
    _series("gatecam_downloads_total", {**APM_OUT, "outcome": "failed"}, "0+0.1x90"),
    _series("gatecam_downloads_total", {**APM_OUT, "outcome": "downloaded"}, "0+1x90"),
    _series("gatecam_downloads_total", {**FMS_IN, "outcome": "failed"}, "0+0.02x90"),
    _series("gatecam_downloads_total", {**FMS_IN, "outcome": "downloaded"}, "0x90"),
    # Instance "a" loses its database at minute 21; "b" never does.
    _series("gatecam_archive_database_up", {"instance": "a"}, "1x20 0x70"),
    _series("gatecam_archive_database_up", {"instance": "b"}, "1x90"),
    # apm/in_gate's camera freezes at minute 11; apm/out_gate's never does.
    _series("gatecam_camera_frozen", APM_IN, "0x10 1x80"),
    _series("gatecam_camera_frozen", APM_OUT, "0x90"),
]


NOT_SCRAPED = _check(
    "GatecamNotScraped",
    15,
    [
        {
            "exp_labels": {"severity": "critical"},
            "exp_annotations": {
                "summary": "no gatecam /metrics scraped for 10 minutes: is the service running?"
            },
        }
    ],
)


def _checks(interval: int) -> list[dict[str, Any]]:
    stale = 3 * interval  # minutes without a successful run before the alert
    return [
        _check("GatecamNoSuccessfulRun", stale - 5, []),
        _check(
            "GatecamNoSuccessfulRun",
            stale + 5,
            [
                _alert(
                    APM_IN,
                    f"apm/in_gate: no successful run for {stale + 5}m 0s",
                    description="`gatecam stats` shows last_error; "
                    "the web page's /healthz says why.",
                )
            ],
        ),
        _check("GatecamStreamNeverSucceeded", stale - 5, []),
        _check(
            "GatecamStreamNeverSucceeded",
            stale + 5,
            [_alert(FMS_IN, "fms/in_gate: no run has succeeded yet")],
        ),
        _check(
            "GatecamDownloadsFailing",
            80,
            [_alert(APM_IN, "apm/in_gate: 90.91% of downloads failed in the last hour")],
        ),
        _check("GatecamDatabaseDown", 25, []),
        _check(
            "GatecamDatabaseDown",
            30,
            [
                {
                    "exp_labels": {"severity": "critical", "instance": "a"},
                    "exp_annotations": {
                        "summary": "gatecam's database does not answer (instance a)"
                    },
                }
            ],
        ),
        _check(
            "GatecamArchiveNotGrowing",
            80,
            [
                _alert(APM_IN, "apm/in_gate: no new image archived for over an hour"),
                _alert(FMS_IN, "fms/in_gate: no new image archived for over an hour"),
            ],
        ),
        _check("GatecamCameraFrozen", 20, []),
        _check("GatecamNotScraped", 80, []),
        _check(
            "GatecamCameraFrozen",
            30,
            [_alert(APM_IN, "apm/in_gate: the camera shows the same frame over and over")],
        ),
    ]


@pytest.mark.parametrize("interval", [10, 5])
def test_alert_rules_fire_on_trouble_and_stay_quiet_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], interval: int
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["alert-rules", "--interval", str(interval)])
    printed = capsys.readouterr()
    assert exited.value.code == 0, printed.err
    (tmp_path / "rules.yml").write_text(printed.out)
    # JSON is YAML: promtool reads the test file as it is.
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": SERIES, "alert_rule_test": _checks(interval)},
            # No gatecam scraped at all (the service is down): only the absence can tell.
            {"interval": "1m", "input_series": [], "alert_rule_test": [NOT_SCRAPED]},
        ],
    }
    (tmp_path / "tests.yml").write_text(json.dumps(tests, indent=1))
    result = subprocess.run(
        ["promtool", "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
