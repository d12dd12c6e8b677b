"""Persistence: image metadata, download runs and the counters behind the statistics."""

from gatecam.database.engine import Database, configure, session_scope

__all__ = ["Database", "configure", "session_scope"]
