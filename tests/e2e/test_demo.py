"""`make demo` works on this machine even when the stand-in's usual port is taken."""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.browser
def test_demo_runs_offline_while_port_8765_is_busy(tmp_path: Path) -> None:
    with ExitStack() as stack:
        busy = stack.enter_context(socket.socket())
        try:
            busy.bind(("127.0.0.1", 8765))
            busy.listen()
        except OSError:
            pass  # already taken by something else: just as good
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATECAM_")}
        env.pop("PORT", None)
        env["DEMO_DIR"] = str(tmp_path / "demo")
        done = subprocess.run(
            [ROOT / "scripts" / "demo"], env=env, capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("total_downloaded") and int(line.split()[1]) > 0 for line in lines)
    assert any(p.suffix == ".jpg" for p in (tmp_path / "demo" / "images").rglob("*"))
