"""`gatecam db copy`: an SQLite archive moved into PostgreSQL (or its files into a bucket)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from gatecam.cli import main
from gatecam.database import queries
from gatecam.database.copy import check_copy, copy_rows, non_empty_tables, prepare_target
from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade
from gatecam.database.models import DownloadRun, Image, MinuteCount
from gatecam.errors import InputError
from gatecam.model import ImageRef
from gatecam.storage import LocalStore, image_key
from gatecam.storage.s3 import S3Store
from tests.fixtures_db import POSTGRES_URL, reset_postgres

GATECAM = [sys.executable, "-m", "gatecam"]
START = datetime(2025, 1, 1, tzinfo=UTC)


def _ref(n: int) -> ImageRef:
    return ImageRef("apm", "in_gate" if n % 2 else "out_gate", START + timedelta(minutes=5 * n))


def _archive(url: str, images: int) -> None:
    """An SQLite archive of ``images`` rows on two streams, with runs of every outcome."""
    db = Database(url)
    try:
        upgrade(db)
        refs = [_ref(n) for n in range(images)]
        records = [
            queries.ImageRecord(r.terminal, r.stream, image_key(r), r.timestamp, 100_000 + n)
            for n, r in enumerate(refs)
        ]
        with db.session_scope() as session:
            queries.insert_images(session, records, batch_size=1000)
            for status in ("success", "failed", "interrupted"):
                run = queries.start_run(session, "apm", "in_gate", ["2025-01-01"])
                queries.finish_run(
                    session,
                    run,
                    status=status,
                    discovered=3,
                    downloaded=2,
                    failed=1,
                    pending=0,
                    error="CDN answered 503" if status == "failed" else None,
                )
    finally:
        db.dispose()


def _rows(db: Database) -> list[tuple[Any, ...]]:
    with db.session_scope() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    Image.id, Image.filepath, Image.timestamp, Image.sha256, Image.created_at
                ).order_by(Image.id)
            )
        ]


def _image_count(db: Database) -> int:
    try:
        with db.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Image)) or 0)
    except SQLAlchemyError:  # the table is not made yet
        return 0


def _stats(db: Database, now: datetime) -> queries.DownloadStats:
    with db.session_scope() as session:
        return queries.get_stats(session, now=now)


def test_100k_rows_move_to_postgres_across_an_interruption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source_url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    _archive(source_url, 100_000)
    reset_postgres(POSTGRES_URL)
    copy = [*GATECAM, "db", "copy", "--database-url", source_url, "--to", POSTGRES_URL]
    target = Database(POSTGRES_URL)
    proc = subprocess.Popen(
        copy, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while _image_count(target) == 0:
            assert proc.poll() is None and time.monotonic() < deadline, "no image copied"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the middle of the images
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    source = Database(source_url, create=False)
    try:
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            "gatecam: error: stopped; what was copied is kept: "
            "run the same command with --resume to continue"
        )
        copied = _image_count(target)
        assert 0 < copied < 100_000

        # The same commands run in this process: a second interpreter start is slow on 2 cores.
        with pytest.raises(SystemExit) as refused:
            main(copy[len(GATECAM) :])
        assert refused.value.code == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert "already holds rows" in line and "--resume" in line
        assert _image_count(target) == copied  # nothing written by the refusal

        with pytest.raises(SystemExit) as resumed:
            main([*copy[len(GATECAM) :], "--resume"])
        printed = capsys.readouterr()
        assert resumed.value.code == 0, printed.err
        assert f"images: 100000 rows ({100_000 - copied} copied now)" in printed.out
        assert "holds the same rows and statistics as the source" in printed.out

        assert _rows(target) == _rows(source)
        now = datetime.now(UTC)
        assert _stats(target, now) == _stats(source, now)
        assert _stats(target, now).total_downloaded == 100_000
        with target.session_scope() as session:
            assert session.scalar(select(func.count()).select_from(DownloadRun)) == 3
            # gatecam goes on archiving into the new database: new rows get new ids.
            new_id = queries.insert_image(
                session, "apm/in_gate/new.jpg", "in_gate", START - timedelta(days=1)
            )
        assert new_id == 100_001
    finally:
        source.dispose()
        target.dispose()


def test_files_go_into_the_bucket_with_their_rows(
    tmp_path: Path,
    aws_environ: None,
    s3_endpoint: str,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source_url = f"sqlite:///{tmp_path / 'gatecam.db'}"
    target_url = f"sqlite:///{tmp_path / 'moved.db'}"
    _archive(source_url, 4)
    folder = LocalStore(tmp_path / "images")
    kept = {image_key(_ref(n)) for n in range(3)}
    for key in kept:
        folder.put(key, key.encode() * 1000)
    lost = image_key(_ref(3))  # its row is there, its file is not
    monkeypatch.setenv("GATECAM_S3_ENDPOINT_URL", s3_endpoint)
    copy = ["db", "copy", "--database-url", source_url, "--to", target_url]
    copy += ["--download-dir", str(tmp_path / "images"), "--storage-url", f"s3://{bucket}/v1"]

    with pytest.raises(SystemExit) as exited:
        main(copy)

    printed = capsys.readouterr()
    assert exited.value.code == 0, printed.err
    assert f"{lost}: not in" in printed.err
    s3 = S3Store(bucket, "v1", endpoint_url=s3_endpoint)
    assert set(s3.keys()) == kept
    for key in kept:
        assert s3.get(key) == folder.get(key)
    source, target = Database(source_url), Database(target_url)
    try:
        assert _rows(target) == _rows(source)
    finally:
        source.dispose()
        target.dispose()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--to", "sqlite:///SOURCE"], "--to names the database being copied"),
        (["--to", "nonsense://"], "--to: database URL"),
        (["--to", "sqlite:///TARGET", "--storage-url", "ftp://x"], "--storage-url: s3://"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    source = tmp_path / "gatecam.db"
    _archive(f"sqlite:///{source}", 1)
    target = tmp_path / "t.db"
    args = [a.replace("SOURCE", str(source)).replace("TARGET", str(target)) for a in extra]
    with pytest.raises(SystemExit) as exited:
        main(["db", "copy", "--database-url", f"sqlite:///{source}", *args])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("gatecam: error: ") and message in line
    assert not target.exists()


def test_resume_continues_a_table_keyed_by_stream_and_minute(tmp_path: Path) -> None:
    source = Database(f"sqlite:///{tmp_path / 'gatecam.db'}")
    target = Database(f"sqlite:///{tmp_path / 'moved.db'}")
    try:
        upgrade(source)
        with source.session_scope() as session:
            for n in range(7):
                minute = START + timedelta(minutes=n // 2)
                terminal = "apm" if n % 2 else "fms"
                session.add(MinuteCount(terminal=terminal, camera_id="in_gate", minute=minute))
        prepare_target(source, target, resume=False)
        batches = 0

        def _stop_after_three(table: Table, _rows: object) -> None:
            nonlocal batches
            batches += table.name == "minute_counts"
            if batches == 4:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            copy_rows(source, target, batch_size=1, before_insert=_stop_after_three)
        assert non_empty_tables(target) == {"minute_counts": 3}
        with pytest.raises(InputError, match="--resume"):
            prepare_target(source, target, resume=False)
        prepare_target(source, target, resume=True)

        report = copy_rows(source, target, batch_size=2)

        assert report.copied["minute_counts"] == 4
        check_copy(source, target)
    finally:
        source.dispose()
        target.dispose()
