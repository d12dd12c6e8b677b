"""The on-disk archive: path layout, parsing paths back, atomic writes, crash leftovers."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gatecam.model import ImageRef
from gatecam.storage.base import is_complete_jpeg
from gatecam.storage.local import write_atomic
from gatecam.storage.ownership import remove_partials
from tests.helpers import image_path, iter_archive, mount_tmpfs, parse_image_path

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"


def ref_at(*args: int, terminal: str = "apm", stream: str = "in_gate") -> ImageRef:
    """An image of ``stream`` at ``datetime(*args)`` UTC."""
    year, month, day, hour, minute, second = args
    return ImageRef(terminal, stream, datetime(year, month, day, hour, minute, second, tzinfo=UTC))


def test_path_layout_pads_hour_unlike_the_cdn(tmp_path: Path) -> None:
    # The CDN writes the hour unpadded (".../5/..."); the archive always uses HHMMSS.
    assert image_path(tmp_path, ref_at(2025, 9, 1, 5, 3, 9)) == (
        tmp_path / "apm" / "in_gate" / "2025-09-01" / "050309.jpg"
    )
    assert image_path(tmp_path, ref_at(2025, 9, 1, 20, 8, 39, stream="out_gate")) == (
        tmp_path / "apm" / "out_gate" / "2025-09-01" / "200839.jpg"
    )


def test_path_is_utc_even_for_other_zones(tmp_path: Path) -> None:
    pacific = timezone(timedelta(hours=-7))
    ref = ImageRef("apm", "in_gate", datetime(2025, 9, 1, 20, 0, 5, tzinfo=pacific))
    assert image_path(tmp_path, ref) == tmp_path / "apm/in_gate/2025-09-02/030005.jpg"


@pytest.mark.parametrize(
    "ref",
    [
        ref_at(2025, 9, 1, 0, 0, 0),
        ref_at(2025, 9, 1, 23, 59, 59),
        ref_at(2024, 2, 29, 9, 5, 1, terminal="lbct", stream="out-gate_2"),
    ],
)
def test_parse_image_path_round_trips(tmp_path: Path, ref: ImageRef) -> None:
    assert parse_image_path(tmp_path, image_path(tmp_path, ref)) == ref


@pytest.mark.parametrize(
    "relative",
    [
        "apm/in_gate/2025-09-01/050309.jpeg",
        "apm/in_gate/2025-09-01/050309.JPG",
        "apm/in_gate/2025-09-01/050309.png",
        "apm/in_gate/2025-09-01/.050309.jpg.3fa9c1.part",
        "apm/in_gate/2025-09-01/050309.jpg.part",
        "APM/in_gate/2025-09-01/050309.jpg",
        "apm/in gate/2025-09-01/050309.jpg",
        "apm/in_gate/2025-13-01/050309.jpg",
        "apm/in_gate/2025-02-30/050309.jpg",
        "apm/in_gate/2025-9-1/050309.jpg",
        "apm/in_gate/2025-09-01/246000.jpg",
        "apm/in_gate/2025-09-01/50309.jpg",
        "apm/in_gate/2025-09-01/0503091.jpg",
        "apm/in_gate/050309.jpg",
        "apm/in_gate/2025-09-01/extra/050309.jpg",
        "apm/../apm/2025-09-01/050309.jpg",
    ],
)
def test_parse_image_path_rejects_junk(tmp_path: Path, relative: str) -> None:
    assert parse_image_path(tmp_path, tmp_path / relative) is None


def test_parse_image_path_rejects_files_outside_the_archive(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "apm/in_gate/2025-09-01/050309.jpg"
    assert parse_image_path(tmp_path / "archive", outside) is None


def test_write_atomic_leaves_only_the_final_file(tmp_path: Path) -> None:
    target = image_path(tmp_path, ref_at(2025, 9, 1, 5, 3, 9))
    write_atomic(target, JPEG)
    assert target.read_bytes() == JPEG
    write_atomic(target, JPEG + b"\x00")  # an overwrite replaces the whole file
    assert target.read_bytes() == JPEG + b"\x00"
    assert [p.name for p in target.parent.iterdir()] == ["050309.jpg"]


def test_write_atomic_failure_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "apm/in_gate/2025-09-01/050309.jpg"
    target.mkdir(parents=True)  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        write_atomic(target, JPEG)
    assert list(target.parent.iterdir()) == [target]


def test_remove_partials_deletes_only_gatecams_own_temporary_files(tmp_path: Path) -> None:
    kept = image_path(tmp_path, ref_at(2025, 9, 1, 5, 3, 9))
    write_atomic(kept, JPEG)
    partials = [
        kept.parent / ".050309.jpg.a1b2c3.part",
        tmp_path / "apm/out_gate/2025-09-02/.101010.jpg.ffee00.part",
    ]
    foreign = [
        tmp_path / "stray.part",
        tmp_path / "Downloads/film.mkv.part",
        kept.parent / "notes.txt.part",
        kept.parent / ".x.jpg.a1b2c3.part",
        tmp_path / "apm/in_gate/.050309.jpg.a1b2c3.part",  # not in a day folder
        tmp_path / "apm/in_gate/2025-09-01/sub/.050309.jpg.a1b2c3.part",  # below one
    ]
    for partial in partials + foreign:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(JPEG[:10])

    assert remove_partials(tmp_path) == 2
    assert not any(p.exists() for p in partials)
    assert all(p.read_bytes() == JPEG[:10] for p in foreign)
    assert kept.read_bytes() == JPEG
    assert remove_partials(tmp_path) == 0
    assert remove_partials(tmp_path / "missing") == 0


def test_remove_partials_never_follows_a_symlinked_day_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = elsewhere / ".050309.jpg.a1b2c3.part"
    theirs.write_bytes(b"someone else's")
    archive = tmp_path / "images"
    (archive / "apm/in_gate").mkdir(parents=True)
    (archive / "apm/in_gate/2025-09-01").symlink_to(elsewhere)

    assert remove_partials(archive) == 0
    assert theirs.read_bytes() == b"someone else's"


def test_iter_archive_lists_only_archived_images(tmp_path: Path) -> None:
    refs = [ref_at(2025, 9, 1, 5, 3, 9), ref_at(2025, 9, 2, 23, 0, 1, stream="out_gate")]
    for ref in refs:
        write_atomic(image_path(tmp_path, ref), JPEG)
    for junk in ["apm/in_gate/2025-09-01/notes.txt", "apm/in_gate/2025-09-01/.x.jpg.1.part"]:
        (tmp_path / junk).write_bytes(b"junk")
    (tmp_path / "apm/in_gate/2025-09-01/999999.jpg").write_bytes(JPEG)

    assert sorted(iter_archive(tmp_path)) == sorted((r, image_path(tmp_path, r)) for r in refs)


@pytest.mark.parametrize(
    ("data", "complete"),
    [
        (JPEG, True),
        (b"", False),
        (b"<html>not found</html>", False),
        (JPEG[:-2], False),
        (JPEG + b"\x00", False),
        (JPEG + b"\n", False),
        (b"\x89PNG\r\n\x1a\n" + JPEG[4:], False),
    ],
)
def test_is_complete_jpeg(data: bytes, complete: bool) -> None:
    assert is_complete_jpeg(data) is complete


def test_disk_full_leaves_earlier_files_intact_and_no_partial(tmp_path: Path) -> None:
    with mount_tmpfs(tmp_path / "disk", "1m") as disk:
        written: dict[Path, bytes] = {}
        with pytest.raises(OSError) as raised:
            for second in range(60):  # 60 x 100 KiB cannot fit in 1 MiB
                data = b"\xff\xd8\xff" + bytes([second]) * 100 * 1024 + b"\xff\xd9"
                path = image_path(disk, ref_at(2025, 9, 1, 5, 3, second))
                write_atomic(path, data)
                written[path] = data
        assert raised.value.errno == errno.ENOSPC
        assert len(written) >= 5
        assert not list(disk.rglob("*.part"))
        assert {p: p.read_bytes() for _, p in iter_archive(disk)} == written
