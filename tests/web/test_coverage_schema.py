"""/api/coverage tells missed images apart from gaps, as its OpenAPI description says."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gatecam.database.engine import Database
from gatecam.database.missed import Miss, record_misses
from gatecam.web.openapi import SPEC
from tests.fixtures_db import sqlite_only
from tests.web.conftest import local
from tests.web.test_day_missed import get


def _response_schema(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = SPEC["paths"][path]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return schema


@sqlite_only
def test_coverage_names_each_missed_image_with_its_reason_in_the_documented_shape(
    database: Database, tmp_path: Path, archive: dict[datetime, int]
) -> None:
    with database.session_scope() as session:
        miss = Miss(local("14:22"), "https://cdn.example/x.jpg", "HTTP 404")
        record_misses(session, "apm", "in_gate", [miss], local("14:30"))
    answer = get(database, tmp_path / "images", "/api/coverage?from=2025-09-02&to=2025-09-02")
    assert answer.status_code == 200
    report = answer.json()
    stream = next(s for s in report["streams"] if s["stream"] == "in_gate")
    assert stream["missed"] == 1
    assert [m["reason"] for m in stream["missed_images"]] == ["HTTP 404"]
    (day,) = stream["days"]
    assert day["missed"] == 1 and day["missed_images"][0]["url"].endswith("/x.jpg")
    schema = _response_schema("/api/coverage")
    # What the description promises, it holds, and a wrong shape would fail it.
    streams = schema["properties"]["streams"]["items"]["properties"]
    assert {"missed", "missed_images"} <= set(streams)
    jsonschema.validate(report, schema)
    stream["missed_images"][0]["attempts"] = "one"
    with pytest.raises(jsonschema.ValidationError, match="'one' is not of type 'integer'"):
        jsonschema.validate(report, schema)
