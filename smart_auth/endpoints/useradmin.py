"""Account administration API (RFC 6750 bearer-protected JSON; SMART App Launch 2.x ``fhirUser``):
create, list, turn off and on again.

The caller presents the operator's admin token, or an access token of this server issued to a
signed-in account whose role is ``admin``. ``POST /auth/admin/users`` takes ``{"username"?,
"email", "name", "role", "fhirUser"?, "password"?, "emailVerified"?}``; without a password the
person is sent an invitation link to choose one (which also confirms the address).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from smart_auth import accounts, grants, tokens, users
from smart_auth.endpoints.admin import _json_body
from smart_auth.errors import InvalidRequest, InvalidToken, OAuthError
from smart_auth.http import answer, endpoint, layer, server_base

Json = dict[str, Any]


class NotFound(OAuthError):
    error, status = "not_found", 404


class Forbidden(OAuthError):
    error, status = "insufficient_scope", 403


async def _check_caller(request: Request) -> None:
    auth = layer(request)
    scheme, _, presented = (request.headers.get("authorization") or "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise InvalidToken("an admin bearer token is required")
    admin = auth.config.admin_token
    if admin and hmac.compare_digest(presented.encode(), admin.encode()):
        return
    try:
        claims = tokens.verify(auth.ring, presented, server_base(request))
    except jwt.PyJWTError:
        raise InvalidToken("a valid admin bearer token is required") from None
    async with auth.server.pool.connection() as conn:
        if await grants.is_revoked(conn, [str(claims["jti"]), str(claims.get("grant", ""))]):
            raise InvalidToken("the access token has been revoked")
        user = await users.get_user(conn, str(claims["sub"]))
    if user is None or user.role != "admin" or user.disabled:
        raise Forbidden("only an admin account may manage accounts")


def _text(data: Json, key: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InvalidRequest(f"{key} must be a non-empty string")
    return value.strip()


@endpoint
async def users_endpoint(request: Request) -> Response:
    """GET lists the accounts; POST creates one."""
    await _check_caller(request)
    auth = layer(request)
    if request.method == "GET":
        async with auth.server.pool.connection() as conn:
            return answer({"users": [u.public() for u in await users.all_users(conn)]})
    data = await _json_body(request, InvalidRequest)
    email, name = _text(data, "email", True), _text(data, "name", True)
    role, fhir_user, password = _text(data, "role") or "practitioner", _text(data, "fhirUser"), _text(data, "password")
    username = _text(data, "username") or "u-" + secrets.token_hex(6)
    verified = data.get("emailVerified", False)
    if not isinstance(verified, bool):
        raise InvalidRequest("emailVerified must be true or false")
    async with auth.server.pool.connection() as conn:
        if await users.get_user(conn, username) is not None:
            raise InvalidRequest(f"the username '{username}' is taken")
        try:
            await users.add_user(conn, username, password, fhir_user, name, email=email, role=role,
                                 email_verified=verified)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        user = await users.get_user(conn, username)
        assert user is not None
        if password is None:
            await accounts.send_reset(auth, conn, server_base(request), user, invite=True)
    return answer(user.public(), 201)


@endpoint
async def user_switch(request: Request) -> Response:
    """POST /auth/admin/users/{username}/disable (sessions end, tokens revoked) or /enable."""
    await _check_caller(request)
    auth = layer(request)
    username, action = request.path_params["username"], request.path_params["action"]
    if action not in ("disable", "enable"):
        raise NotFound(f"no action '{action}'")
    if not users.USERNAME.fullmatch(username):
        raise NotFound("no such account")
    async with auth.server.pool.connection() as conn:
        if not await accounts.set_disabled(conn, username, action == "disable", auth.config.access_seconds):
            raise NotFound(f"no account '{username}'")
        user = await users.get_user(conn, username)
    assert user is not None
    return answer(user.public())
