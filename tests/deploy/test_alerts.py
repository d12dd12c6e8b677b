"""The shipped Prometheus alerting rules, run by promtool on series that fire and that do not."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatecam.archive import Archive as OpenArchive
from gatecam.cli import main
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.deploy.alerts import alert_rules
from gatecam.health import State
from gatecam.storage import LocalStore
from gatecam.web import create_app

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


def _state(labels: dict[str, str], current: str, values: str) -> list[dict[str, str]]:
    """gatecam_stream_state of a stream: ``values`` for state ``current``, 0 for the others."""
    states = ("ok", "silent", "failing", "frozen", "stale")
    return [
        _series("gatecam_stream_state", {**labels, "state": s}, values if s == current else "0x90")
        for s in states
        if s != current
    ] + [_series("gatecam_stream_state", {**labels, "state": current}, values)]


# 90 minutes of scrapes, one a minute. apm/in_gate turns stale at minute 11; apm/out_gate
# fails from minute 21; fms/in_gate's camera freezes at minute 31 and lbct/in_gate goes
# silent at 41; apm/side_gate stays ok throughout.
SIDE = {"terminal": "apm", "stream": "side_gate"}
LBCT_IN = {"terminal": "lbct", "stream": "in_gate"}
SERIES = [
    *_state(APM_IN, "stale", "0x10 1x80"),
    *_state(APM_OUT, "failing", "0x20 1x70"),
    *_state(FMS_IN, "frozen", "0x30 1x60"),
    *_state(LBCT_IN, "silent", "0x40 1x50"),
    *_state(SIDE, "ok", "1x90"),
    # Instance "a" loses its database at minute 21; "b" never does.
    _series("gatecam_archive_database_up", {"instance": "a"}, "1x20 0x70"),
    _series("gatecam_archive_database_up", {"instance": "b"}, "1x90"),
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
    """Each state fires once it held for one interval, for its stream alone."""
    stale = _alert(
        {**APM_IN, "state": "stale"},
        "apm/in_gate: no run ended well for three intervals",
        description="/healthz (with the web token) and `gatecam stats` say why.",
    )
    return [
        _check("GatecamStreamStale", 10 + interval - 1, []),
        _check("GatecamStreamStale", 10 + interval + 2, [stale]),
        _check("GatecamStreamFailing", 20 + interval - 1, []),
        _check(
            "GatecamStreamFailing",
            20 + interval + 2,
            [_alert({**APM_OUT, "state": "failing"}, "apm/out_gate: listed images are not stored")],
        ),
        _check("GatecamCameraFrozen", 30 + interval - 1, []),
        _check(
            "GatecamCameraFrozen",
            30 + interval + 2,
            [
                _alert(
                    {**FMS_IN, "state": "frozen"},
                    "fms/in_gate: the camera shows the same frame over and over",
                )
            ],
        ),
        _check("GatecamCameraSilent", 40 + interval - 1, []),
        _check(
            "GatecamCameraSilent",
            40 + interval + 2,
            [
                _alert(
                    {**LBCT_IN, "state": "silent"},
                    "lbct/in_gate: the camera published no new image lately",
                )
            ],
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
        _check("GatecamNotScraped", 80, []),
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


def test_every_state_health_can_name_has_its_alert_and_metrics_agree_with_healthz(
    database: Database, tmp_path: Path
) -> None:
    rules = alert_rules(10)
    for state in State:
        if state not in (State.OK, State.DATABASE_DOWN):
            assert rules.count(f'gatecam_stream_state{{state="{state.code}"}} == 1') == 1, state
    now = datetime.now(UTC)
    with database.session_scope() as session:
        for stream, status, listed in (("in_gate", "success", 1), ("out_gate", "failed", 0)):
            run = queries.start_run(session, "apm", stream, [f"{now:%Y-%m-%d}"])
            queries.finish_run(
                session, run, status=status, discovered=listed, downloaded=listed, failed=0,
                pending=0, error=None if listed else "page did not load",
            )  # fmt: skip
        key = f"apm/in_gate/{now:%Y-%m-%d/%H%M%S}.jpg"
        queries.insert_images(session, [ImageRecord("apm", "in_gate", key, now, 100)])
    app = create_app(OpenArchive(database, LocalStore(tmp_path)), interval_minutes=10)

    async def fetch(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gatecam") as client:
            return await client.get(path)

    health = asyncio.run(fetch("/healthz")).json()
    exposition = asyncio.run(fetch("/metrics")).text
    said = {s["stream"]: s["state"] for s in health["streams"]}
    assert said == {"in_gate": "ok", "out_gate": "stale"}
    for stream, state in said.items():
        line = f'gatecam_stream_state{{state="{state}",stream="{stream}",terminal="apm"}} 1.0'
        assert line in exposition
