"""The web token: every path but /healthz needs it, as a Bearer header, ?token= or its cookie."""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatecam.web.common import error_response

COOKIE = "gatecam_token"
OPEN_PATHS = frozenset({"/healthz"})


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """ASGI middleware answering 401 to requests without the token.

    A page opened with ``?token=`` gets the token back as an HttpOnly cookie, so its
    images and links (which carry no token) load too.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        header = conn.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
        if _same(bearer, self.token) or _same(conn.cookies.get(COOKIE), self.token):
            await self.app(scope, receive, send)
            return
        if _same(conn.query_params.get("token"), self.token):
            await self.app(scope, receive, self._setting_cookie(send))
            return
        response = error_response(scope["path"], 401, "a token is needed (Authorization: Bearer)")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    def _setting_cookie(self, send: Send) -> Send:
        cookie = SimpleCookie()
        cookie[COOKIE] = self.token
        cookie[COOKIE]["path"] = "/"
        cookie[COOKIE]["httponly"] = True
        cookie[COOKIE]["samesite"] = "Strict"
        value = cookie.output(header="").strip()

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", value)
            await send(message)

        return wrapped
