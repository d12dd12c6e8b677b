"""The Prometheus metrics: what the job reports in-process, and what the archive's tables say."""

from __future__ import annotations

from datetime import UTC, datetime

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord
from gatecam.downloader import metrics
from gatecam.web import metrics as web_metrics


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            key, value = line.rsplit(" ", 1)
            if key == name:
                return float(value)
    return None


def test_the_job_s_reports_show_up(database: Database) -> None:
    before = sample(web_metrics.exposition().decode(), "gatecam_database_errors_total") or 0.0
    metrics.database_error()
    metrics.run_finished("apm", "in_gate", 2.5, ok=True)
    metrics.discovery_finished("apm", "in_gate", 1.5)
    text = web_metrics.exposition().decode()
    assert sample(text, "gatecam_database_errors_total") == before + 1
    assert 'gatecam_run_seconds_count{stream="in_gate",terminal="apm"}' in text
    assert 'gatecam_discovery_seconds_bucket{le="2.0",stream="in_gate",terminal="apm"}' in text
    assert 'gatecam_last_success_timestamp_seconds{stream="in_gate",terminal="apm"}' in text


def test_the_archive_gauges_come_from_the_database(database: Database) -> None:
    ts = datetime(2025, 9, 2, 12, 0, tzinfo=UTC)
    with database.session_scope() as session:
        queries.insert_images(session, [ImageRecord("apm", "out_gate", "k.jpg", ts, 1)])
    text = web_metrics.exposition(database).decode()
    assert sample(text, "gatecam_archive_database_up") == 1.0
    assert sample(text, 'gatecam_archive_images_total{stream="out_gate",terminal="apm"}') == 1.0


def test_a_database_that_does_not_answer_reads_as_down(tmp_path: object) -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        text = web_metrics.exposition(db).decode()
    finally:
        db.dispose()
    assert sample(text, "gatecam_archive_database_up") == 0.0
