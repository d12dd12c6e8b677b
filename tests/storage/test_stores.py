"""One behaviour suite for every image store: a local folder and S3 over real HTTP (moto)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatecam.errors import InvalidSetting, StorageError, Unavailable
from gatecam.model import ImageRef
from gatecam.settings import setting_label
from gatecam.storage import LocalStore, image_key, open_store
from gatecam.storage.base import ImageStore
from gatecam.storage.s3 import S3Store
from tests.helpers import free_port
from tests.storage.s3server import put_raw, s3_client

T0 = datetime(2025, 9, 1, 20, 8, 39, tzinfo=UTC)
KEY = "apm/in_gate/2025-09-01/200839.jpg"


def jpeg(n: int) -> bytes:
    return b"\xff\xd8\xff" + f"image {n}".encode() * 20 + b"\xff\xd9"


def key(stream: str = "in_gate", minutes: int = 0, terminal: str = "apm") -> str:
    return image_key(ImageRef(terminal, stream, T0 + timedelta(minutes=minutes)))


def test_put_get_size_delete(store: ImageStore) -> None:
    assert store.size(KEY) is None
    with pytest.raises(FileNotFoundError):
        store.get(KEY)
    store.put(KEY, jpeg(1))
    assert store.get(KEY) == jpeg(1)
    assert store.size(KEY) == len(jpeg(1))
    store.put(KEY, jpeg(22))  # overwrite: the new bytes, whole
    assert store.get(KEY) == jpeg(22) and store.size(KEY) == len(jpeg(22))
    store.delete(KEY)
    store.delete(KEY)  # already gone: no error
    assert store.size(KEY) is None and list(store.keys()) == []
    store.check()


def test_a_name_outside_the_key_layout_is_refused(store: ImageStore) -> None:
    for bad in ("../etc/passwd.jpg", "/abs/in_gate/2025-09-01/200839.jpg", "apm/x.jpg"):
        with pytest.raises(ValueError, match="not an image key"):
            store.put(bad, b"x")
        assert store.size(bad) is None


def test_keys_by_prefix_sorted_and_only_images(store: ImageStore) -> None:
    written = [
        key("out_gate", 5),
        key("in_gate", 0),
        key("in_gate", 60 * 24),
        key("in_gate", 3, terminal="lbct"),
    ]
    for name in written:
        store.put(name, jpeg(0))
    put_raw(store, "apm/in_gate/2025-09-01/notes.txt", b"x")
    put_raw(store, "apm/in_gate/2025-09-01/.200839.jpg.0123.part", b"x")
    put_raw(store, "apm/README.jpg", b"x")

    assert list(store.keys()) == sorted(written)
    assert list(store.keys("apm/")) == sorted(written[:3])
    assert list(store.keys("apm/in_gate/")) == [key("in_gate", 0), key("in_gate", 60 * 24)]
    assert list(store.keys("apm/in_gate/2025-09-02/")) == [key("in_gate", 60 * 24)]
    assert list(store.keys("apm/in_gate/2025-09-03/")) == []
    assert list(store.keys("nothing/")) == []


def test_keys_pages_through_more_than_a_thousand(store: ImageStore) -> None:
    # ListObjectsV2 answers at most 1000 keys a page.
    names = [key("in_gate", minutes) for minutes in range(1005)]
    # From 8 threads, as the downloader stores them.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: store.put(name, b"\xff\xd8\xff\xd9"), names))
    listed = list(store.keys("apm/"))
    assert listed == sorted(names) and len(listed) == 1005


def test_prefixes_keep_two_archives_in_one_bucket_apart(
    bucket: str, s3_endpoint: str, aws_environ: None
) -> None:
    first = S3Store(bucket, "site-a", endpoint_url=s3_endpoint)
    second = S3Store(bucket, "/site-b/", endpoint_url=s3_endpoint)
    first.put(KEY, jpeg(1))
    assert list(second.keys()) == [] and second.size(KEY) is None
    second.put(KEY, jpeg(2))
    assert (first.get(KEY), second.get(KEY)) == (jpeg(1), jpeg(2))
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == [f"site-a/{KEY}", f"site-b/{KEY}"]
    assert second.describe() == f"s3://{bucket}/site-b at {s3_endpoint}"


def test_a_damaged_upload_never_becomes_visible(
    bucket: str, s3_endpoint: str, aws_environ: None
) -> None:
    store = S3Store(bucket, endpoint_url=s3_endpoint)
    client: Any = store._client

    def truncate(request: Any, **_: Any) -> None:
        # The body is cut short on the wire after its checksum was computed.
        body = request.body
        data = body.read() if hasattr(body, "read") else bytes(body)
        request.body = data[:-7]
        request.headers["Content-Length"] = str(len(request.body))

    client.meta.events.register("before-send.s3.PutObject", truncate)
    with pytest.raises(OSError) as failed:
        store.put(KEY, jpeg(1))
    assert failed.value.strerror and "cannot store" in failed.value.strerror
    client.meta.events.unregister("before-send.s3.PutObject", truncate)
    assert store.size(KEY) is None


def test_an_unreachable_endpoint_is_one_line_and_an_outage(aws_environ: None) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3Store("archive", endpoint_url=endpoint)
    with pytest.raises(Unavailable) as opened:
        store.check()
    assert opened.value.code == 3  # the settings are fine: the same command may work later
    assert str(opened.value) == (
        f"image store s3://archive at {endpoint}: cannot reach the S3 endpoint {endpoint}"
    )
    # Per image, an OSError the downloader counts as a failed image with this reason.
    with pytest.raises(OSError) as stored:
        store.put(KEY, jpeg(1))
    assert stored.value.strerror == (
        f"cannot store {KEY} in archive: cannot reach the S3 endpoint {endpoint}"
    )
    assert "\n" not in str(stored.value)


def test_a_missing_bucket_is_one_line(s3_endpoint: str, aws_environ: None) -> None:
    store = S3Store("no-such-bucket", "p", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match=r"bucket 'no-such-bucket' does not exist at http"):
        store.check()
    with pytest.raises(OSError, match="bucket 'no-such-bucket' does not exist"):
        store.put(KEY, jpeg(1))
    with pytest.raises(StorageError, match="does not exist"):
        list(store.keys())


def test_no_credentials_is_one_line(
    monkeypatch: pytest.MonkeyPatch, aws_environ: None, s3_endpoint: str, bucket: str
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3Store(bucket, endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match="no S3 credentials: set AWS_ACCESS_KEY_ID"):
        store.check()


def test_describe_never_shows_secrets(aws_environ: None) -> None:
    store = S3Store("b", "p/", endpoint_url="http://user:secret@minio.example:9000")
    assert store.describe() == "s3://b/p at http://minio.example:9000"


def test_open_store(tmp_path: Path, aws_environ: None) -> None:
    local = open_store(None, tmp_path)
    assert isinstance(local, LocalStore) and local.root == tmp_path
    assert isinstance(open_store("", tmp_path), LocalStore)
    s3 = open_store("s3://bucket/some/prefix/", tmp_path, s3_endpoint_url="http://127.0.0.1:9")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == (
        "bucket",
        "some/prefix",
        "http://127.0.0.1:9",
    )
    for bad in ("/srv/images", "http://minio:9000/bucket", "s3://", "s3://key:secret@bucket"):
        # The setting is named by its field: the CLI words it as its flag and variable.
        with pytest.raises(InvalidSetting) as refused:
            open_store(bad, tmp_path)
        assert refused.value.field == "storage_url"
    assert setting_label("storage_url") == "--storage-url / GATECAM_STORAGE_URL"


def test_a_local_folder_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="cannot create"):
        LocalStore(tmp_path / "file" / "images").check()


def test_a_local_store_never_goes_through_a_symlink(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "images")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "201000.jpg").write_bytes(b"\xff\xd8\xffelsewhere\xff\xd9")
    (tmp_path / "images" / "apm" / "in_gate").mkdir(parents=True)
    (tmp_path / "images" / "apm" / "in_gate" / "2025-09-01").symlink_to(elsewhere)
    key = "apm/in_gate/2025-09-01/201000.jpg"

    with pytest.raises(OSError, match="is a symlink"):
        store.put("apm/in_gate/2025-09-01/202000.jpg", b"\xff\xd8\xff\xff\xd9")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["201000.jpg"]
    with pytest.raises(FileNotFoundError):
        store.get(key)
    assert store.size(key) is None
    assert list(store.keys()) == []
    store.delete(key)  # retention of a row naming it: the file elsewhere stays
    assert (elsewhere / "201000.jpg").is_file()


def test_opening_a_folder_sweeps_partial_files_only_when_alone(tmp_path: Path) -> None:
    root = tmp_path / "images"
    day = root / "apm" / "in_gate" / "2025-09-01"
    day.mkdir(parents=True)
    crashed = day / ".200839.jpg.0123456789ab.part"
    crashed.write_bytes(b"\xff\xd8\xff half")
    first, second, third = LocalStore(root), LocalStore(root), LocalStore(root)

    first.open()  # alone: the .part file is a crashed writer's
    assert not crashed.exists()
    in_flight = day / ".201839.jpg.ba9876543210.part"
    in_flight.write_bytes(b"\xff\xd8\xff")
    second.open()  # another writer is alive: its .part file may be a download in flight
    assert in_flight.exists()
    first.close()
    second.close()
    third.open()
    assert not in_flight.exists()
    third.open()  # opening an open store does nothing
    third.close()
    third.close()


def test_a_store_exists_only_once_there_and_opening_makes_a_folder(
    tmp_path: Path, store: ImageStore
) -> None:
    missing = LocalStore(tmp_path / "unmounted")
    assert not missing.exists() and not (tmp_path / "unmounted").exists()
    store.open()
    try:
        assert store.exists()
        store.put(KEY, jpeg(1))
        assert store.get(KEY) == jpeg(1)
    finally:
        store.close()


def test_opening_a_missing_bucket_is_one_line(s3_endpoint: str, aws_environ: None) -> None:
    store = S3Store("no-such-bucket", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match=r"bucket 'no-such-bucket' does not exist at http"):
        store.open()
    with pytest.raises(StorageError, match=r"bucket 'no-such-bucket' does not exist at http"):
        store.exists()
