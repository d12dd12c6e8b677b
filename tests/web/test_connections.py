"""A client that sends half a request is dropped, on a new or a kept-alive connection."""

from __future__ import annotations

import socket
from pathlib import Path

from gatecam.archive import Archive
from gatecam.database.engine import Database
from gatecam.storage import LocalStore
from gatecam.web import WebServer, create_app
from tests.fixtures_db import sqlite_only

# Far above the server's deadline below: the bound for the wait, never the wait itself.
BOUND_SECONDS = 10.0


def response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return head


@sqlite_only
def test_half_sent_headers_are_dropped(database: Database, tmp_path: Path) -> None:
    app = create_app(Archive(database, LocalStore(tmp_path)))
    with WebServer(app, header_seconds=0.5) as web:
        with socket.create_connection(("127.0.0.1", web.port), timeout=BOUND_SECONDS) as slow:
            slow.sendall(b"GET /healthz HT")
            assert slow.recv(1024) == b""  # closed by the server, no answer

        with socket.create_connection(("127.0.0.1", web.port), timeout=BOUND_SECONDS) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: gatecam\r\n\r\n")
            assert response(kept).startswith(b"HTTP/1.1 200")
            # The next request on the same connection starts, then stalls.
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: gat")
            assert kept.recv(1024) == b""

        # A client that sends its request whole is served as before.
        with socket.create_connection(("127.0.0.1", web.port), timeout=BOUND_SECONDS) as whole:
            whole.sendall(b"GET /healthz HTTP/1.1\r\nHost: gatecam\r\nConnection: close\r\n\r\n")
            assert response(whole).startswith(b"HTTP/1.1 200")
