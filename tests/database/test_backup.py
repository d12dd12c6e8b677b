"""`gatecam db backup`: a consistent copy of the SQLite archive while gatecam writes to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatecam.cli import main
from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade


def _stats(url: str, now: datetime) -> queries.DownloadStats:
    db = Database(url, create=False)
    try:
        with db.session_scope() as session:
            return queries.get_stats(session, now=now)
    finally:
        db.dispose()


def test_backup_holds_rows_still_in_the_wal_while_the_writer_is_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gatecam.db"
    db = Database(f"sqlite:///{path}")
    try:
        upgrade(db)
        start = datetime(2025, 9, 1, tzinfo=UTC)
        records = [
            queries.ImageRecord("apm", "in_gate", f"apm/in_gate/{n}.jpg", start + timedelta(n))
            for n in range(50)
        ]
        with db.session_scope() as session:
            queries.insert_images(session, records)
        # gatecam's connection is still open, so the rows sit in the WAL, not yet in the file
        # a plain `cp gatecam.db` would copy.
        assert (tmp_path / "gatecam.db-wal").stat().st_size > 0
        dest = tmp_path / "backup" / "gatecam-2025-09-01.db"
        dest.parent.mkdir()

        with pytest.raises(SystemExit) as exited:
            main(["db", "backup", str(dest), "--database-url", f"sqlite:///{path}"])

        assert exited.value.code == 0
        assert f"backed up to {dest}" in capsys.readouterr().out
        assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # one file, no WAL
        now = datetime.now(UTC)
        copied = _stats(f"sqlite:///{dest}", now)
        assert copied.total_downloaded == 50
        assert copied == _stats(f"sqlite:///{path}", now)
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("url", "dest", "message"),
    [
        ("postgresql+psycopg://gatecam@127.0.0.1:9/gatecam", "x.db", "pg_dump"),
        ("sqlite:///DB", "DB", "already exists"),
        ("sqlite:///DB", "missing/x.db", "no folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, dest: str, message: str
) -> None:
    path = tmp_path / "gatecam.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    url = url.replace("DB", str(path))
    target = path if dest == "DB" else tmp_path / dest
    with pytest.raises(SystemExit) as exited:
        main(["db", "backup", str(target), "--database-url", url])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("gatecam: error: ") and message in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gatecam.db"]
