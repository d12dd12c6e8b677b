"""A read-only web page to look through the archive: by stream, by local day, by moment."""

from gatecam.web.server import ArchiveWeb

__all__ = ["ArchiveWeb"]
