"""A read-only web app over the archive: pages, JSON API, images, health and metrics."""

from gatecam.web.app import create_app
from gatecam.web.serve import ServeError, WebServer

__all__ = ["ServeError", "WebServer", "create_app"]
