"""A real S3 API over HTTP for tests: moto in server mode, as s3fs's own tests use it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from gatecam.storage import LocalStore
from gatecam.storage.base import ImageStore
from gatecam.storage.s3 import S3Store

# moto accepts any credentials; these only have to be present for boto3 to sign requests.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "gatecam-test",
    "AWS_SECRET_ACCESS_KEY": "gatecam-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on 127.0.0.1, for the whole test session (per worker)."""
    # Port 0: the kernel picks a free port as the server binds, so parallel workers never race.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's credential chain sees the test credentials and nothing of the developer's."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3_client(endpoint: str) -> Any:
    return boto3.session.Session(**_session_args()).client("s3", endpoint_url=endpoint)


def _session_args() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new empty bucket on the moto server (one per test: moto keeps state across tests)."""
    name = f"gatecam-{secrets.token_hex(6)}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, aws_environ: None, s3_endpoint: str
) -> ImageStore:
    """An empty image store on each backend; the S3 one under a prefix, built as the CLI does."""
    if request.param == "local":
        return LocalStore(tmp_path / "images")
    name = request.getfixturevalue("bucket")
    return S3Store(name, "archive/v1", endpoint_url=s3_endpoint)


def put_raw(store: ImageStore, name: str, data: bytes) -> None:
    """Bytes under ``name`` (not necessarily an image key), written behind the store's back."""
    if isinstance(store, LocalStore):
        path = store.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        assert isinstance(store, S3Store) and store.endpoint_url
        root = f"{store.prefix}/" if store.prefix else ""
        s3_client(store.endpoint_url).put_object(Bucket=store.bucket, Key=root + name, Body=data)
