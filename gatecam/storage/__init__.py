"""Where image bytes live: a local folder (default) or S3-compatible object storage."""

from gatecam.storage.base import ImageStore, image_key, parse_image_key
from gatecam.storage.local import LocalStore

__all__ = ["ImageStore", "LocalStore", "image_key", "parse_image_key"]
