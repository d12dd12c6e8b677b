"""Cut a request's connection under a blocked read: at the request's deadline, or on a stop.

httpx's timeouts are per read and fixed when a request starts, so a read that begins late
in the request (data came, then silence) may block past the request's deadline, and a stop
request waits for whatever read is blocked. Shutting the socket down from another thread
makes that read return at once; httpcore then drops the broken connection and the pool
serves the other requests as before.

One thread per download call watches every request in flight; it sleeps until the nearest
deadline, and never longer than TICK, which is how soon a stop is noticed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# The longest the watch thread sleeps: a stop request is noticed within this.
TICK = 0.05
# Why a request was cut.
DEADLINE = "deadline"
STOP = "stop"


def _shut(sock: socket.socket) -> None:
    # Already closed or never connected: nothing is blocked on it.
    with contextlib.suppress(OSError):
        # socket.socket's own shutdown, even for a TLS socket: only the file descriptor
        # matters here, and SSLSocket's would drop its TLS state under the reading thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watch:
    """One request's deadline and the sockets it has used; ``cut`` says why it was cut."""

    def __init__(self, deadline: float, remember: Callable[[socket.socket], None]) -> None:
        self.deadline = deadline
        self.cut: str | None = None
        # Set once the answer's headers are in: what a cut request says depends on it.
        self.answered = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._remember = remember

    def add_stream(self, stream: Any) -> None:
        """Watch the socket under an httpcore network stream (None or no socket: nothing)."""
        get_extra_info = getattr(stream, "get_extra_info", None)
        sock = get_extra_info("socket") if get_extra_info is not None else None
        if not isinstance(sock, socket.socket):
            return
        self._remember(sock)
        with self._lock:
            self._sockets.append(sock)
            late = self.cut is not None
        if late:
            _shut(sock)

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace extension: a new connection's socket is known before any answer."""
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            self.add_stream(info.get("return_value"))

    def fire(self, why: str) -> None:
        with self._lock:
            if self.cut is not None:
                return
            self.cut = why
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


class Watchdog:
    """Watches the requests of one downloader; ``running`` spans a download call."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        # Every socket a watched request used: on a stop, a request that reused a pooled
        # connection may be waiting on one of them before its answer names it.
        self._known: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._calls = 0
        # The running thread and what ends it: each thread has its own, so a thread that is
        # ending never sees the event of the one started after it.
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Keep the watch thread alive while the block runs (calls may overlap)."""
        with self._lock:
            self._calls += 1
            if self._thread is None:
                self._ended = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._ended,), name="gatecam-watchdog", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            thread = None
            with self._lock:
                self._calls -= 1
                if self._calls == 0:
                    thread, self._thread = self._thread, None
                    self._ended.set()
            if thread is not None:
                thread.join()

    @contextlib.contextmanager
    def watch(self, seconds: float) -> Iterator[Watch]:
        """Watch a request that must be over within ``seconds`` from now."""
        watch = Watch(time.monotonic() + seconds, self._remember)
        with self._lock:
            self._watches.add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.discard(watch)

    def _remember(self, sock: socket.socket) -> None:
        with self._lock:
            self._known.add(sock)

    def _run(self, ended: threading.Event) -> None:
        shut_known = False
        while not ended.is_set():
            now = time.monotonic()
            stopping = self._stop.is_set()
            with self._lock:
                watches = list(self._watches)
                known = list(self._known) if stopping and not shut_known else []
            shut_known = stopping
            for watch in watches:
                if stopping:
                    watch.fire(STOP)
                elif watch.deadline <= now:
                    watch.fire(DEADLINE)
            for sock in known:
                _shut(sock)
            waiting = [w.deadline - now for w in watches if w.cut is None]
            ended.wait(max(0.0, min([TICK, *waiting])))
