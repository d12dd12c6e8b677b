"""Images as objects in an S3-compatible bucket (AWS S3, MinIO, ...), one archive for all hosts.

Needs boto3 (``pip install 'gatecam[s3]'``). Credentials come from boto3's standard chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role); the CLI reads
the endpoint and bucket from its settings and passes them in, this module reads no environment.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gatecam.errors import InputError, InvalidSetting, StorageError, Unavailable, first_line
from gatecam.storage.base import Fingerprint, Leftover, is_complete_jpeg, parse_image_key

# Few, short retries: a job runs again at the next tick, and a user waiting on `check()` should
# hear about a wrong endpoint in seconds, not after botocore's default minute of backoff.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 3
# The downloader writes 8 images at a time by default; leave room for `--concurrency 16`.
MAX_POOL_CONNECTIONS = 32

_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Store:
    """Images as objects ``<prefix>/<key>`` in one bucket; a single PutObject is atomic."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise InvalidSetting("storage_url", "names no bucket: use s3://bucket/optional/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._root = f"{self.prefix}/" if self.prefix else ""
        self.endpoint_url = endpoint_url
        self._client = client if client is not None else self._make_client(endpoint_url)
        self._open = False

    @staticmethod
    def _make_client(endpoint_url: str | None) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise InputError("S3 storage needs boto3: pip install 'gatecam[s3]'") from None
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        # A session of its own: boto3's default session is not thread-safe to create clients
        # from, and the downloader stores from several threads.
        session = boto3.session.Session()
        try:
            return session.client("s3", endpoint_url=endpoint_url, config=config)
        except ValueError as exc:  # e.g. a malformed endpoint URL
            raise InvalidSetting("s3_endpoint_url", f"is not usable: {exc}") from None

    # -- keys ---------------------------------------------------------------------------

    def _object(self, key: str) -> str:
        if parse_image_key(key) is None:
            raise ValueError(f"not an image key: {key!r}")
        return self._root + key

    def derived_folder(self, name: str) -> Path | None:
        return None

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if self.endpoint_url:
            where += f" at {_without_userinfo(self.endpoint_url)}"
        return where

    def _reason(self, exc: BaseException) -> str:
        """One line a user can act on, for any error botocore raises."""
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        endpoint = _without_userinfo(self.endpoint_url) if self.endpoint_url else "AWS S3"
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return f"cannot reach the S3 endpoint {endpoint}"
        if isinstance(exc, ReadTimeoutError):
            return f"the S3 endpoint {endpoint} did not answer in time"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        if isinstance(exc, ClientError):
            code = _error_code(exc)
            if code in _NO_BUCKET or (code in _NOT_FOUND and not _has_key(exc)):
                return f"bucket {self.bucket!r} does not exist at {endpoint}"
            if code in _DENIED:
                return (
                    f"access to bucket {self.bucket!r} denied ({code}): "
                    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
                )
            return f"S3 error {code}: {first_line(exc)}"
        return first_line(exc)

    def _io_error(self, action: str, key: str, exc: BaseException) -> OSError:
        # OSError so callers that handle a full disk handle a failing bucket the same way;
        # strerror is what the downloader and verify print.
        return OSError(
            errno.EIO, f"{action} {self._root}{key} in {self.bucket}: {self._reason(exc)}"
        )

    # -- the ImageStore protocol ---------------------------------------------------------

    def check(self) -> None:
        """Raise StorageError with one line if the bucket cannot be reached or used."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.exceptions import ConnectionError as EndpointDown

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except EndpointDown as exc:
            # Nothing is wrong with the settings: the endpoint may answer in a minute.
            raise Unavailable(f"image store {self.describe()}: {self._reason(exc)}") from None
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"image store {self.describe()}: {self._reason(exc)}") from None

    def open(self) -> None:
        """Check the bucket: a single PutObject leaves nothing partial to clear after a crash."""
        if not self._open:
            self.check()
            self._open = True

    def close(self) -> None:
        # No lock to leave: every put is one atomic request.
        self._open = False

    def exists(self) -> bool:
        """True when the bucket answers; a missing or unreachable one raises, as ``check()``."""
        self.check()
        return True

    def prune(self, terminal: str, stream: str, through: date) -> None:
        pass  # object storage has no folders to empty

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object(key)
        # With Content-MD5 the server rejects a body that arrived damaged or short (BadDigest),
        # so a truncated upload never becomes a visible object.
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        try:
            response = self._client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=data,
                ContentMD5=base64.b64encode(digest).decode("ascii"),
                ContentType="image/jpeg",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._io_error("cannot store", key, exc) from None
        # Not every S3-compatible server checks Content-MD5 (moto does not); a single-part
        # ETag that is an MD5 must then match, or the damaged object is taken away again.
        etag = str(response.get("ETag", "")).strip('"').lower()
        if _MD5_HEX.fullmatch(etag) and etag != digest.hex():
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.delete_object(Bucket=self.bucket, Key=name)
            raise OSError(
                errno.EIO,
                f"cannot store {self._root}{key} in {self.bucket}: "
                "the bytes stored differ from the bytes sent",
            )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            data: bytes = response["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404"}:
                raise FileNotFoundError(errno.ENOENT, "no such object", name) from None
            raise self._io_error("cannot read", key, exc) from None
        except BotoCoreError as exc:
            raise self._io_error("cannot read", key, exc) from None
        return data

    def size(self, key: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            name = self._object(key)
        except ValueError:
            return None
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            # HEAD answers carry no body, so a missing key and a missing bucket both say 404;
            # `check()` tells them apart when the store is opened.
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise self._io_error("cannot read", key, exc) from None
        except BotoCoreError as exc:
            raise self._io_error("cannot read", key, exc) from None
        return int(response["ContentLength"])

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object(key)
        try:
            # DeleteObject succeeds for a key that is already gone.
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise self._io_error("cannot delete", key, exc) from None

    def quarantine(self, key: str, reason: str) -> str:
        """Move the object of ``key`` under ``<prefix>.quarantine/``, its reason in metadata.

        Never overwrites an object quarantined earlier. Returns where it went; raises
        FileNotFoundError if the key holds nothing, OSError if the bucket refuses.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        source = self._object(key)
        target = base = self.quarantine_root + key
        try:
            n = 1
            while self._exists(target):
                target = f"{base}.{n}"
                n += 1
            self._client.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": source},
                # S3 metadata is ASCII.
                Metadata={"gatecam-reason": reason.encode("ascii", "replace").decode()},
                MetadataDirective="REPLACE",
            )
            self._client.delete_object(Bucket=self.bucket, Key=source)
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404"}:
                raise FileNotFoundError(errno.ENOENT, "no such object", source) from None
            raise self._io_error("cannot quarantine", key, exc) from None
        except BotoCoreError as exc:
            raise self._io_error("cannot quarantine", key, exc) from None
        return target

    def quarantine_where(self) -> str:
        where = f"s3://{self.bucket}/{self.quarantine_root}"
        return f"{where} (reasons in gatecam-reason metadata)"

    def fingerprint(self, name: str, *, digest: bool) -> Fingerprint:
        self._object(name)  # ValueError for a name outside the key layout
        size = self.size(name)
        if size is None:
            raise FileNotFoundError(errno.ENOENT, "no such object", self._root + name)
        if not digest:
            return Fingerprint(size)
        data = self.get(name)
        return Fingerprint(size, hashlib.sha256(data).hexdigest(), is_complete_jpeg(data))

    def aliases(self, key: str) -> list[str]:
        return [key]

    def leftovers(self, terminal: str | None, partial_before: datetime) -> Iterator[Leftover]:
        """Objects under the prefix that are not image keys: reported, never served.

        A single PutObject leaves no partial object, and a bucket holds no symlinks or
        special files, so there is nothing else to find.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self._root + (f"{terminal}/" if terminal else "")
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    name = str(item["Key"])[len(self._root) :]
                    if parse_image_key(name) is None and not name.startswith(self.quarantine_root):
                        where = f"s3://{self.bucket}/{self._root}{name}"
                        reason = "not an image of the archive (its name is not an image key)"
                        yield Leftover(name, reason, "stray", where)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot list {self.describe()}: {self._reason(exc)}") from None

    def remove(self, leftover: Leftover) -> None:
        raise ValueError(f"a bucket holds no partial writes: {leftover.name!r} is not one")

    @property
    def quarantine_root(self) -> str:
        # Beside the prefix, never under it; a name never starts with "." so no terminal
        # folder can be confused with it when there is no prefix.
        return f"{self.prefix}.quarantine/" if self.prefix else ".quarantine/"

    def _exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._root + prefix)
        try:
            # ListObjectsV2 returns keys in UTF-8 binary order, which for our ASCII keys is
            # Python's sorted order, so keys stream page by page without sorting them all.
            for page in pages:
                for item in page.get("Contents", ()):
                    key = str(item["Key"])[len(self._root) :]
                    if parse_image_key(key) is not None:
                        yield key
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot list {self.describe()}: {self._reason(exc)}") from None


def _has_key(exc: BaseException) -> bool:
    # A 404 on an object request means the key is missing; on head_bucket, the bucket.
    operation = getattr(exc, "operation_name", "")
    return operation in {"HeadObject", "GetObject"}
