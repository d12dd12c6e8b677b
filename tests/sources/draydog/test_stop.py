"""Stopping gatecam while its browser lists a page: the last line is gatecam's own."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from gatecam.sources.draydog.standin import StandIn
from tests.helpers import GATECAM, wait_for


@pytest.mark.browser
def test_sigterm_to_the_process_group_mid_listing_leaves_no_driver_traceback(
    tmp_path: Path,
) -> None:
    """A terminal's Ctrl-C, or a SIGTERM to the group, also ends Playwright's driver.

    Its "Connection closed while reading from the driver" must not follow gatecam's last line.
    """
    # The listing answer is held back, so the signal arrives while the browser waits on it.
    with StandIn(api_latency=30) as site, tempfile.TemporaryFile() as err:
        env = {
            **os.environ,
            "GATECAM_APP_URL": site.app_url,
            "GATECAM_CDN_URL": site.cdn_url,
            "GATECAM_DATABASE_URL": f"sqlite:///{tmp_path / 'gatecam.db'}",
            "GATECAM_DOWNLOAD_DIR": str(tmp_path / "images"),
        }
        proc = subprocess.Popen(
            [*GATECAM, "once"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        try:
            wait_for(lambda: site.api_requests > 0, "the browser to ask for a listing", proc=proc)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    assert proc.returncode == 130, stderr
    assert "Future exception was never retrieved" not in stderr
    assert "Connection closed while reading from the driver" not in stderr
    assert stderr.rstrip("\n").splitlines()[-1].startswith("gatecam: error: stopped"), stderr
