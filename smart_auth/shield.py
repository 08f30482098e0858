"""Protection of the authorization server's endpoints: CSRF on every form (OWASP CSRF Prevention
Cheat Sheet, "signed double-submit cookie" variant without a server secret) and per-address rate
limits (RFC 6585 §4: 429 with ``Retry-After``).

An ASGI middleware in front of the ``/auth/`` routes:

- every page (everything under ``/auth/`` except the OAuth APIs apps call directly, and including
  the authorize endpoint, which shows the login page) gets a CSRF cookie (HttpOnly, SameSite=Lax)
  when it has none; its value is put into every rendered form (``csrf_token()``), and a POST to a
  page is refused (403) unless the form's ``csrf`` field equals the cookie — a page of another
  site can neither read the cookie nor make the browser send it;
- sign-in steps, the token endpoint, and registrations (client registration, patient sign-up,
  password-reset requests, account creation) are counted per client address in PostgreSQL; past
  the configured limit the answer is 429 with ``Retry-After`` (JSON for the APIs, a page otherwise).
"""

from __future__ import annotations

import hmac
import secrets
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smart_auth import abuse
from smart_auth.errors import NO_STORE
from smart_auth.http import MAX_FORM

CSRF_COOKIE = "smart_csrf"
CSRF_FIELD = "csrf"
_csrf: ContextVar[str] = ContextVar("smart_csrf", default="")
API = ("/auth/token", "/auth/introspect", "/auth/revoke", "/auth/register", "/auth/launch",
       "/auth/jwks", "/auth/smart-style.json")
API_PREFIXES = ("/auth/admin/",)
LOGIN = ("/auth/login", "/auth/mfa", "/auth/mfa/enrol", "/auth/oidc/callback")
REGISTER = ("/auth/register", "/auth/signup", "/auth/forgot", "/auth/reset", "/auth/admin/users")


def csrf_token() -> str:
    """The CSRF token of the request being served (for the forms of its page)."""
    return _csrf.get()


def is_page(path: str) -> bool:
    return path.startswith("/auth/") and path not in API and not path.startswith(API_PREFIXES)


def _group(method: str, path: str) -> str | None:
    if path in LOGIN and (method == "POST" or path == "/auth/oidc/callback"):
        return "login"
    if method != "POST":
        return None
    if path == "/auth/token":
        return "token"
    return "register" if path in REGISTER else None


def too_many(path: str, retry_after: int) -> Response:
    headers = {"Retry-After": str(retry_after), **NO_STORE}
    if not is_page(path):
        return JSONResponse({"error": "temporarily_unavailable",
                             "error_description": f"too many requests; try again in {retry_after} seconds"},
                            429, headers=headers)
    from smart_auth.templates import render

    minutes = max(1, round(retry_after / 60))
    return render("error.html", 429, headers=headers, title="Please wait",
                  message=f"There have been too many attempts from your network. Please wait about "
                          f"{minutes} minute{'s' if minutes != 1 else ''} and try again.")


class Shield:
    def __init__(self, app: ASGIApp, auth: Any) -> None:
        self.app = app
        self.auth = auth  # smart_auth.layer.SmartAuth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/auth/"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        group = _group(method, path)
        if group is not None:
            try:
                await self._count(scope, group)
            except abuse.TooMany as exc:
                await too_many(path, exc.retry_after)(scope, receive, send)
                return
        if not is_page(path):
            await self.app(scope, receive, send)
            return
        cookie = Request(scope).cookies.get(CSRF_COOKIE, "")
        fresh = not (20 <= len(cookie) <= 100 and cookie.replace("-", "").replace("_", "").isalnum())
        token = secrets.token_urlsafe(32) if fresh else cookie
        if method == "POST" and path != "/auth/authorize":  # an app's authorize-post starts the flow: no form
            if fresh:
                await _refused()(scope, receive, send)
                return
            body = await _read(receive)
            if body is None or not _matches(body, token):
                await _refused()(scope, receive, send)
                return
            receive = _replay(body, receive)
        reset = _csrf.set(token)
        try:
            await self.app(scope, receive, self._with_cookie(send, token) if fresh else send)
        finally:
            _csrf.reset(reset)

    async def _count(self, scope: Scope, group: str) -> None:
        config = self.auth.config
        limit = {"login": config.rate_login, "token": config.rate_token, "register": config.rate_register}[group]
        address = (scope.get("client") or ("unknown", 0))[0]
        async with self.auth.server.pool.connection() as conn:
            await abuse.hit(conn, group, address, limit, config.rate_window)

    def _with_cookie(self, send: Send, token: str) -> Send:
        secure = self.auth.config.cookie_secure

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                flags = "; Secure" if secure else ""
                headers.append("set-cookie", f"{CSRF_COOKIE}={token}; HttpOnly; Path=/auth; SameSite=Lax{flags}")
            await send(message)

        return sending


def _refused() -> Response:
    from smart_auth.templates import render

    return render("error.html", 403, title="Please try again",
                  message="This form has expired or was sent from another site. Go back, reload the page "
                          "and try again.")


async def _read(receive: Receive) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += bytes(message.get("body", b""))
        if len(body) > MAX_FORM:
            return None
        if not message.get("more_body", False):
            return body


def _matches(body: bytes, token: str) -> bool:
    try:
        fields = parse_qsl(body.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return False
    given = [v for k, v in fields if k == CSRF_FIELD]
    return len(given) == 1 and hmac.compare_digest(given[0].encode(), token.encode())


def _replay(body: bytes, original: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
