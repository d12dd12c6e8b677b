"""Image store fixtures: a local folder and a real S3 API (moto server)."""

from tests.storage.s3server import *  # noqa: F403
