"""Run an ASGI app with uvicorn in a background thread, on a port bound before it starts."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How long start() waits for uvicorn to accept connections before giving up.
_START_SECONDS = 10.0
# A client has this long to send a request's line and headers, from connecting or from its
# first byte on a kept-alive connection; then it is dropped. Without it a client sending
# half a request held its connection for as long as it liked.
HEADER_SECONDS = 10.0
# An idle kept-alive connection is closed after this long.
KEEP_ALIVE_SECONDS = 5
# Past this many open connections (or requests in flight) a request is answered 503: a
# small server runs 4 handler threads, so more only queue for memory.
MAX_CONNECTIONS = 150


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers are late.

    uvicorn times out a connection only while it idles between requests; its protocol
    class is where it lets a server add the deadline for the headers themselves.
    """

    header_seconds = HEADER_SECONDS
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_seconds, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def _protocol(header_seconds: float) -> type[HeaderDeadline]:
    class Protocol(HeaderDeadline):
        pass

    Protocol.header_seconds = header_seconds
    return Protocol


class ServeError(OSError):
    """The address cannot be served on; ``strerror`` is the reason, ``str()`` the whole line."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(code, reason)
        self.message = message

    def __str__(self) -> str:
        return self.message


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0 picks a free port); raises ServeError with one line."""
    where = f"{host}:{port}"
    if not 0 <= port <= 65535:
        reason = "a port is a number from 0 to 65535"
        raise ServeError(errno.EINVAL, reason, f"cannot listen on {where}: {reason}")
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ServeError(
            errno.EADDRNOTAVAIL, reason, f"cannot listen on {where}: {reason}"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restart rebind while old connections sit in TIME_WAIT; a live listener
        # on the port still makes bind fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ServeError(
            exc.errno or errno.EINVAL, reason, f"cannot listen on {where}: {reason}"
        ) from None
    except OverflowError as exc:  # pragma: no cover - the range check above catches it first
        sock.close()
        raise ServeError(errno.EINVAL, str(exc), f"cannot listen on {where}: {exc}") from None
    return sock


class WebServer:
    """An ASGI app under uvicorn on one port, bound at construction so ``url`` is known at once.

    ``start()`` serves in a daemon thread (tests, ``gatecam run --web``); ``serve_forever()``
    serves until Ctrl-C or SIGTERM reaches the calling thread (``gatecam web``).
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        header_seconds: float = HEADER_SECONDS,
    ) -> None:
        self._socket = bind(host, port)
        self._host = host
        config = uvicorn.Config(
            app,
            http=_protocol(header_seconds),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            limit_concurrency=MAX_CONNECTIONS,
            log_config=None,  # the CLI owns logging; uvicorn would replace its handlers
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = self._host if self._host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Serve in a daemon thread; returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("WebServer already started")
        self._done.clear()
        self._thread = threading.Thread(
            target=self._run,
            name=f"WebServer-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServeError(errno.EIO, "server did not start", f"{self.url} did not start")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._done.set()

    def serve_forever(self) -> None:
        """Serve until KeyboardInterrupt (or the server ends), then stop cleanly."""
        self.start()
        try:
            # An Event, not Thread.join: a KeyboardInterrupt inside join(timeout) can leave
            # the thread looking finished (CPython gh-90882), and the server would be cut off.
            while not self._done.wait(0.2):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Finish the requests in flight (at most 5 s), then close the port."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
