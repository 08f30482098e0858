"""HTTP plumbing of the OAuth 2.0 endpoints (RFC 6749 §3: form-encoded requests, JSON answers).

Request parameters come as ``application/x-www-form-urlencoded`` (the authorize endpoint also takes
the query string); a parameter sent twice is an ``invalid_request`` and one sent empty counts as
absent (RFC 6749 §3.1). Answers carry ``Cache-Control: no-store``. Every endpoint runs under
``endpoint``, which turns an ``OAuthError`` into its JSON answer.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fhir_server.rest.respond import base_url
from smart_auth.errors import NO_STORE, InvalidRequest, InvalidToken, OAuthError

if TYPE_CHECKING:
    from smart_auth.layer import SmartAuth

log = logging.getLogger("smart_auth")
MAX_FORM = 64 * 1024
Endpoint = Callable[[Request], Awaitable[Response]]


def pairs_to_dict(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise InvalidRequest("a parameter contains a NUL character")
        if key in out:
            raise InvalidRequest(f"the parameter '{key}' is given more than once")
        if value != "":
            out[key] = value
    return out


async def form(request: Request) -> dict[str, str]:
    """The form-encoded body as a dict."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidRequest("the request body must be application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise InvalidRequest(f"the request body is larger than {MAX_FORM} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body), errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the request body is not a valid form") from exc
    return pairs_to_dict(pairs)


def answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status, headers=dict(NO_STORE))


def redirect_with(uri: str, params: dict[str, str]) -> RedirectResponse:
    """302 to the client's redirect URI with ``params`` added to its query (RFC 6749 §4.1.2)."""
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{sep}{urlencode(params)}", 302, headers=dict(NO_STORE))


def layer(request: Request) -> SmartAuth:
    auth: SmartAuth = request.app.state.auth
    return auth


def server_base(request: Request) -> str:
    return base_url(request)


def check_admin(request: Request) -> None:
    """The request carries the configured admin token (RFC 6750 bearer) or gets a 401 ``invalid_token``."""
    expected = layer(request).config.admin_token
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if not expected:
        raise InvalidToken("this endpoint is off: the server has no FHIR_AUTH_ADMIN_TOKEN")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise InvalidToken("a valid admin bearer token is required")


def endpoint(handler: Endpoint) -> Endpoint:
    """Answer OAuth errors as RFC 6749 JSON."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except OAuthError as exc:
            log.info("%s %s: %s (%s)", request.method, request.url.path, exc.error, exc.description)
            return exc.response()

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run
