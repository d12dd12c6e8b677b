"""Where image bytes live: a local folder (default) or S3-compatible object storage."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gatecam.errors import InvalidSetting
from gatecam.storage.base import ImageStore, UpkeepStore, image_key, parse_image_key
from gatecam.storage.local import LocalStore

__all__ = [
    "ImageStore",
    "LocalStore",
    "UpkeepStore",
    "image_key",
    "open_store",
    "parse_image_key",
]


def open_store(
    storage_url: str | None, download_dir: Path, *, s3_endpoint_url: str | None = None
) -> UpkeepStore:
    """The store ``storage_url`` names: unset means the folder ``download_dir``.

    ``s3://bucket/optional/prefix`` is an S3-compatible bucket (``s3_endpoint_url`` for MinIO
    and the like). Nothing is contacted here; call the store's ``check()`` for that.
    """
    if not storage_url:
        return LocalStore(download_dir)
    parts = urlsplit(storage_url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise InvalidSetting(
            "storage_url",
            f"must be empty (the download folder) or s3://bucket/prefix, not {storage_url!r}",
        )
    if "@" in parts.netloc or ":" in parts.netloc:
        raise InvalidSetting(
            "storage_url",
            "holds only the bucket name: the endpoint goes in the S3 endpoint URL setting and "
            "credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    from gatecam.storage.s3 import S3Store

    return S3Store(parts.netloc, parts.path, endpoint_url=s3_endpoint_url)
