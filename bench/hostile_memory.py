"""`gatecam once` against a site whose listing answer is 56 MB: what the process's memory peaks at.

A stand-in site runs in this process. A first `gatecam once` (its own process) learns the
listing request in Chromium and archives the day; then every listing answer becomes the
stand-in's ``huge_answer`` fault (a valid 56 MB JSON, chunked, no declared length) and a
second `gatecam once` replays the learned request against it, is refused past the cap, and
falls back to the browser, which skips the body too. The peak resident memory of the
gatecam process (VmHWM in /proc/<pid>/status, read until it exits) must stay at most 150 MB.

Run from the repository root: ``.venv/bin/python bench/hostile_memory.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gatecam.sources.draydog.standin import Catalogue, StandIn

TARGET_MB = 150.0


def peak_mb(args: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Run ``args``; its peak RSS in MB (as last read before it exited), exit code, seconds."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.05)
    proc.communicate()
    return peak / 1024, proc.returncode, time.monotonic() - started


def main() -> int:
    with tempfile.TemporaryDirectory() as folder, StandIn(catalogue=Catalogue()) as site:
        root = Path(folder)
        env = {
            **os.environ,
            "GATECAM_DATABASE_URL": f"sqlite:///{root / 'gatecam.db'}",
            "GATECAM_DOWNLOAD_DIR": str(root / "images"),
            "GATECAM_APP_URL": site.app_url,
            "GATECAM_CDN_URL": site.cdn_url,
        }
        once = [sys.executable, "-m", "gatecam", "once"]
        learned_mb, learned_code, learned_s = peak_mb(once, env)
        site.inject("huge_answer", times=None)
        hostile_mb, hostile_code, hostile_s = peak_mb(once, env)
        requests = site.api_requests
    print("gatecam once, peak resident memory of the gatecam process (VmHWM)")
    print(f"{'run':<44} {'peak MB':>8} {'exit':>5} {'s':>6}")
    print(f"{'normal day (learns the listing request)':<44} {learned_mb:8.1f} {learned_code:5} "
          f"{learned_s:6.1f}")  # fmt: skip
    print(f"{'every listing answer 56 MB (huge_answer)':<44} {hostile_mb:8.1f} {hostile_code:5} "
          f"{hostile_s:6.1f}")  # fmt: skip
    print(f"listing requests the site answered: {requests}")
    verdict = "target met" if hostile_mb <= TARGET_MB else "TARGET MISSED"
    print(f"target: at most {TARGET_MB:.0f} MB over a 56 MB answer: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
