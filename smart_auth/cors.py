"""Cross-origin access for browser-based SMART apps (Fetch Standard "CORS protocol"; SMART App Launch 2.x
recommends CORS so that apps running in a browser can reach discovery, the token endpoint and the API).

The API and the OAuth endpoints authenticate with bearer tokens or client credentials in the
request, never with cookies, so they answer allowed origins without credentials
(``Access-Control-Allow-Credentials`` is never sent). The sign-in pages, which use cookies, get no
CORS headers at all. Preflights are answered here, before the bearer-token guard.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smart_auth.shield import is_page

METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
HEADERS = ("Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, Prefer, "
           "X-Request-Id")
EXPOSE = "Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, Retry-After, X-Request-Id"


class Cors:
    def __init__(self, app: ASGIApp, auth: Any) -> None:
        self.app = app
        self.auth = auth  # smart_auth.layer.SmartAuth

    def _allowed(self, origin: str) -> str | None:
        origins = self.auth.config.cors_origins
        if "*" in origins:
            return "*"
        return origin if origin in origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_page(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = self._allowed(origin) if origin else None
        if allowed is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            preflight = Response(status_code=204, headers={
                "Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Methods": METHODS,
                "Access-Control-Allow-Headers": HEADERS, "Access-Control-Max-Age": "600", "Vary": "Origin"})
            await preflight(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = allowed
                out["Access-Control-Expose-Headers"] = EXPOSE
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, sending)
