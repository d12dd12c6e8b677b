"""The web token: every path but /healthz needs it, as a Bearer header, ?token= or a session.

``?token=`` (a link opened in a browser) answers 303 to the same address without it, so the
token leaves the address bar and history, and sets a session cookie: a value signed with a
key derived from the token (itsdangerous), never the token itself. Changing the token ends
every session; instances sharing a token accept each other's sessions.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatecam.web.common import error_response

COOKIE = "gatecam_session"
OPEN_PATHS = frozenset({"/healthz"})
SESSION_SECONDS = 30 * 24 * 3600
_SESSION_VALUE = b"web"
# Set in the scope of a request to an open path that carries the token or a session.
_AUTHORIZED = "gatecam.authorized"


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """ASGI middleware answering 401 to requests with neither the token nor a session.

    What it lets through may be cached by the browser only (``Cache-Control: private``):
    a shared cache would hand guarded images to anyone.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        key = hmac.new(token.encode(), b"gatecam web session", hashlib.sha256).digest()
        self.signer = TimestampSigner(key, salt="gatecam-session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        header = conn.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
        known = _same(bearer, self.token) or self._session(conn.cookies.get(COOKIE))
        if scope["path"] in OPEN_PATHS:
            # Open to all, but the token holder is told more (/healthz's full reasons).
            await self.app({**scope, _AUTHORIZED: known}, receive, send)
            return
        if known:
            await self.app(scope, receive, _private(send))
            return
        if _same(conn.query_params.get("token"), self.token):
            await self._sign_in(conn)(scope, receive, send)
            return
        response = error_response(scope["path"], 401, "a token is needed (Authorization: Bearer)")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    def _session(self, value: str | None) -> bool:
        if not value:
            return False
        try:
            return self.signer.unsign(value, max_age=SESSION_SECONDS) == _SESSION_VALUE
        except BadSignature:  # also an expired one
            return False

    def _sign_in(self, conn: HTTPConnection) -> RedirectResponse:
        """303 to the same path and query without the token, setting the session cookie."""
        url = conn.url.remove_query_params("token")
        # One leading slash: "//host/..." would send the browser to another site.
        location = "/" + url.path.lstrip("/") + (f"?{url.query}" if url.query else "")
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(
            COOKIE,
            self.signer.sign(_SESSION_VALUE).decode(),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            # Behind https (uvicorn reads X-Forwarded-Proto from a trusted proxy) the
            # cookie never travels over plain http.
            secure=conn.url.scheme == "https",
        )
        return response


def authorized(scope: Scope) -> bool:
    """Whether a request to an open path carries the web token or a session; False when the
    server has no token, since then anyone reaching the port is let in."""
    return scope.get(_AUTHORIZED) is True


def _private(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            policy = headers.get("cache-control")
            if policy and "public" in policy:
                headers["cache-control"] = policy.replace("public", "private")
        await send(message)

    return wrapped
