"""A read-only web app over the archive: pages, JSON API, images, health and metrics."""

from __future__ import annotations

from pathlib import Path

from gatecam.database.engine import Database
from gatecam.storage.local import LocalStore
from gatecam.web.app import create_app
from gatecam.web.serve import ServeError, WebServer

__all__ = ["ArchiveWeb", "ServeError", "WebServer", "create_app"]


class ArchiveWeb(WebServer):
    """The archive page over a local folder: the signature ``gatecam web`` used before Starlette."""

    def __init__(
        self,
        db: Database,
        download_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tz: str = "America/Los_Angeles",
    ) -> None:
        super().__init__(create_app(db, LocalStore(download_dir), tz=tz), host, port)
