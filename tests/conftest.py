"""Fixtures shared by all tests: real databases, the real stand-in site, a clean environment."""

from tests.fixtures_db import *  # noqa: F403
from tests.fixtures_standin import *  # noqa: F403
from tests.storage.s3server import *  # noqa: F403
