"""A small threaded HTTP server on a local port: the stand-in site and the web page are one each."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)

# How soon stop() is noticed; tests start and stop a server each.
_POLL_SECONDS = 0.02


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall with no network.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on purpose (timeouts, resets, a closed tab): not worth a traceback.
        log.debug(
            "%s: error answering %s", type(self.owner).__name__, client_address, exc_info=True
        )


class LocalHandler(BaseHTTPRequestHandler):
    """Base of a LocalServer's request handler: quiet logs, the server's owner at hand."""

    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections should not hold a thread forever.
    timeout = 60
    server: _QuietServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(f"{type(self.server.owner).__name__}: {format}", *args)


class LocalServer:
    """Binds its port at once (so ``url`` is known), then serves in a thread or in this one.

    Subclasses pass their request handler; the handler reaches the subclass instance as
    ``self.server.owner``.
    """

    def __init__(self, host: str, port: int, handler: type[LocalHandler]) -> None:
        self._thread: threading.Thread | None = None
        self._serving = False
        self._http = _QuietServer((host, port), handler, self)
        self._host = host if host not in ("", "0.0.0.0") else "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> Self:
        """Serve in a daemon thread and return self."""
        self._claim()
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stop() is called from another one (or Ctrl-C)."""
        self._claim()
        try:
            self._http.serve_forever(poll_interval=_POLL_SECONDS)
        finally:
            self._http.server_close()

    def _claim(self) -> None:
        if self._serving:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._serving = True

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._serving:
            self._http.shutdown()
            self._serving = False
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
