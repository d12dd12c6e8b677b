"""``open_archive``: what a writer and a reader get from the settings, and what they leave."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatecam.archive import open_archive
from gatecam.database.stats import DownloadStats, get_stats
from gatecam.downloader import scheduler
from gatecam.errors import DatabaseError
from gatecam.settings import DownloadConfig
from gatecam.storage import LocalStore


def settings(tmp_path: Path) -> DownloadConfig:
    return DownloadConfig(
        database_url=f"sqlite:///{tmp_path / 'db' / 'gatecam.db'}",
        download_dir=tmp_path / "images",
    )


def test_a_reader_creates_nothing_where_there_is_no_archive(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no database at"):
        open_archive(settings(tmp_path), write=False)
    assert list(tmp_path.iterdir()) == []


def test_a_writer_gets_a_database_a_joined_store_and_its_source(tmp_path: Path) -> None:
    day = tmp_path / "images" / "apm" / "in_gate" / "2025-09-01"
    day.mkdir(parents=True)
    crashed = day / ".200839.jpg.0123456789ab.part"
    crashed.write_bytes(b"\xff\xd8\xff half")

    with open_archive(settings(tmp_path)) as writer:
        assert writer.source is not None
        assert not crashed.exists()  # alone: a crashed writer's partial file is swept
        with writer.db.session_scope() as session:
            stats = get_stats(session)
        assert isinstance(stats, DownloadStats) and stats.total_runs == 0
        # A second writer while the first is open leaves the other's partial files alone.
        crashed.write_bytes(b"\xff\xd8\xff half")
        with open_archive(settings(tmp_path)) as other:
            assert crashed.exists()
            assert other.db is not writer.db
    with open_archive(settings(tmp_path), write=False) as reader:
        assert reader.source is None and isinstance(reader.store, LocalStore)
        assert crashed.exists()  # a reader never sweeps


def test_the_stats_type_is_still_importable_from_the_scheduler() -> None:
    assert scheduler.DownloadStats is DownloadStats
