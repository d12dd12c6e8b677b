"""bench/peers.py still runs: its smallest comparison, downloads, at toy size.

The bench is not part of the suite (its figures take minutes); this only checks that its
code still fits gatecam's: the real downloader, the stand-in in its own process, curl.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def peers() -> ModuleType:
    """bench/peers.py, imported as the bench runs it (its folder first on the path)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("peers")
    finally:
        sys.path.remove(str(BENCH))


def test_downloads_comparison_runs_at_toy_size(peers: ModuleType) -> None:
    assert "downloads" in peers.COMPARISONS  # `--only downloads` runs it at full size
    measured = peers.compare_downloads(images=20, rounds=2)
    # "downloads vs curl", "downloads vs aria2", "downloads vs the limit ..."
    found = {line.label.split()[2]: line for line in measured if isinstance(line, peers.Line)}
    limit = found["the"]
    assert limit.peer == pytest.approx(20 * 0.05 / 8)
    # Nothing downloads 20 images at 50 ms an answer, 8 at a time, faster than that wait.
    assert limit.ours >= limit.peer
    if shutil.which("curl"):
        assert found["curl"].peer >= limit.peer
        assert found["curl"].met is (found["curl"].ratio <= 1.1)
    else:
        assert "downloads vs curl: skipped: curl not installed" in measured
