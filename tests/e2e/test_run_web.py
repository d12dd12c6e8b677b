"""`gatecam run --web`: scheduler and web page in one process, images in S3."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.model import ImageRef
from gatecam.sources.draydog.standin import StandIn
from gatecam.sources.draydog.standin.catalogue import Catalogue
from tests.helpers import free_port

pytestmark = pytest.mark.browser
TOKEN = "s3cret-token"


@pytest.fixture
def site() -> Iterator[StandIn]:
    now = datetime.now(UTC).replace(microsecond=0)
    if now.hour == 0 and now.minute < 30:
        pytest.skip("too soon after UTC midnight for today's images to be published")
    with StandIn(catalogue=Catalogue(scheduled=False)) as standin:
        standin.catalogue.add("apm", "in_gate", now.replace(hour=0, minute=4, second=9))
        for n in (3, 2, 1):
            standin.catalogue.add("apm", "in_gate", now - timedelta(minutes=10 * n, seconds=n))
        yield standin


def retire_a_failing_stream(url: str) -> None:
    """A stream that failed an hour ago and is no longer configured: health ignores it."""
    db = Database(url)
    try:
        upgrade(db)
        with db.session_scope() as session:
            run = queries.start_run(session, "apm", "side_gate", [f"{datetime.now(UTC):%F}"])
            queries.finish_run(
                session, run, status="failed", discovered=5, downloaded=0, failed=5, pending=0,
                error="5 downloads failed",
            )  # fmt: skip
    finally:
        db.dispose()


def test_run_serves_health_metrics_and_images_from_the_bucket(
    site: StandIn, s3_endpoint: str, bucket: str, aws_environ: None, tmp_path: Path
) -> None:
    port = free_port()
    retire_a_failing_stream(f"sqlite:///{tmp_path / 'gatecam.db'}")
    env = {
        **os.environ,
        "GATECAM_DATABASE_URL": f"sqlite:///{tmp_path / 'gatecam.db'}",
        "GATECAM_STORAGE_URL": f"s3://{bucket}/archive",
        "GATECAM_S3_ENDPOINT_URL": s3_endpoint,
        "GATECAM_APP_URL": site.app_url,
        "GATECAM_CDN_URL": site.cdn_url,
        "GATECAM_WEB_TOKEN": TOKEN,
    }
    args = [sys.executable, "-m", "gatecam", "run", "--web", "--port", str(port)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                stats = httpx.get(f"{url}/api/stats", headers=auth, timeout=2)
                if (
                    stats.status_code == 200
                    and stats.json().get("apm", {}).get("total_downloaded") == 4
                ):
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "no images archived"
            time.sleep(0.2)

        health = httpx.get(f"{url}/healthz")  # no token needed
        assert health.status_code == 200, health.text
        assert [s["stream"] for s in health.json()["streams"]] == ["in_gate"]
        assert httpx.get(f"{url}/metrics").status_code == 401
        metrics = httpx.get(f"{url}/metrics", headers=auth).text
        # The job's own counters, from the process that ran it.
        assert (
            'gatecam_downloads_total{outcome="downloaded",stream="in_gate",terminal="apm"} 4.0'
            in metrics
        )
        assert "gatecam_cdn_bytes_total" in metrics

        [first, *_] = httpx.get(f"{url}/api/images", headers=auth).json()["items"]
        image = httpx.get(f"{url}/image/{first['id']}", headers=auth)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        ref = ImageRef("apm", "in_gate", datetime.fromisoformat(first["timestamp"]))
        cdn = httpx.get(site.source.image_url(ref))
        assert image.content == cdn.content  # stored in the bucket, served back unchanged
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
