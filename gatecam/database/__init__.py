"""Persistence: image metadata, download runs and the counters behind the statistics."""

from gatecam.database.engine import Database

__all__ = ["Database"]
