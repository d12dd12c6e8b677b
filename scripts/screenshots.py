"""The README's two screenshots of the offline demo's archive: the overview on a desktop, a phone.

Run from the repository root after `make demo`: ``.venv/bin/python scripts/screenshots.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import sync_playwright

DEMO = Path(os.environ.get("DEMO_DIR", "data/demo"))
OUT = Path("docs/img")
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> int:
    if not (DEMO / "gatecam.db").exists():
        print(f"no demo archive in {DEMO}: run `make demo` first", file=sys.stderr)
        return 2
    port = free_port()
    env = os.environ | {
        "GATECAM_DATABASE_URL": f"sqlite:///{DEMO / 'gatecam.db'}",
        "GATECAM_DOWNLOAD_DIR": str(DEMO / "images"),
        "GATECAM_STREAMS": "in_gate,out_gate",
    }
    web = subprocess.Popen([".venv/bin/gatecam", "web", "--port", str(port)], env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "healthz")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            for name, (width, height) in SIZES.items():
                context = browser.new_context(
                    viewport={"width": width, "height": height}, is_mobile=name == "phone"
                )
                page = context.new_page()
                page.goto(url)
                page.wait_for_load_state("networkidle")
                path = OUT / f"overview-{name}.png"
                page.screenshot(path=str(path))
                context.close()
                # 128 colours keep text and chart crisp at a third of the size.
                Image.open(path).quantize(128).save(path, optimize=True)
                print(f"{path}: {path.stat().st_size // 1024} KB")
            browser.close()
    finally:
        web.terminate()
        web.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
