"""Token introspection (RFC 7662) and revocation (RFC 7009).

Introspection answers ``{"active": false}`` for anything that is not a current token of this
server — expired, revoked, used, unknown — and, for an active token, its scope, client, subject,
expiry and SMART context (``patient``, ``fhirUser``). The caller must be an authenticated
confidential client or present a valid access token (RFC 7662 §2.1). Revocation takes effect at
once in every server process: revoked access tokens go on the revocation list in PostgreSQL, and
revoking a refresh token revokes its whole grant (RFC 7009 §2.1).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.storage.repository import Conn
from smart_auth import grants, tokens
from smart_auth.client_auth import authenticate
from smart_auth.clients import Client
from smart_auth.errors import InvalidClient, InvalidRequest, InvalidToken, UnauthorizedClient
from smart_auth.http import answer, endpoint, form, layer, server_base
from smart_auth.layer import SmartAuth

Json = dict[str, Any]
CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "patient", "encounter", "fhirUser")


def _access_claims(auth: SmartAuth, token: str, base: str, verify_exp: bool = True) -> Json | None:
    try:
        if verify_exp:
            return tokens.verify(auth.ring, token, base)
        header = jwt.get_unverified_header(token)
        key = auth.ring.public_key(str(header.get("kid")))
        if key is None or header.get("typ") != tokens.ACCESS_TYP:
            return None
        claims: Json = jwt.decode(token, key, algorithms=["RS256"], audience=base, issuer=base,
                                  options={"verify_exp": False})
        return claims
    except jwt.PyJWTError:
        return None


async def _check_caller(conn: Conn, request: Request, auth: SmartAuth, params: dict[str, str], base: str) -> None:
    header = request.headers.get("authorization") or ""
    if header.lower().startswith("bearer "):
        presented = header[7:].strip()
        admin = auth.config.admin_token
        if admin and hmac.compare_digest(presented.encode(), admin.encode()):
            return
        claims = _access_claims(auth, presented, base)
        if claims is None or await grants.is_revoked(conn, [claims["jti"], claims.get("grant", "")]):
            raise InvalidToken("the bearer token presented to introspect is not valid")
        return
    client = await authenticate(conn, header or None, params, f"{base}/auth/token", auth.client_keys,
                                auth.config.assertion_max_seconds)
    if client.auth_method == "none":
        raise InvalidClient("introspection needs client authentication or a bearer access token")


@endpoint
async def introspect(request: Request) -> Response:
    params = await form(request)
    auth, base = layer(request), server_base(request)
    value = params.get("token")
    if not value:
        raise InvalidRequest("token is required")
    async with auth.server.pool.connection() as conn:
        await _check_caller(conn, request, auth, params, base)
        claims = _access_claims(auth, value, base)
        if claims is not None and not await grants.is_revoked(conn, [claims["jti"], claims.get("grant", "")]):
            body: Json = {"active": True, "token_type": "Bearer"}
            body.update({k: claims[k] for k in CLAIMS if k in claims})
            return answer(body)
        stored = await grants.find_refresh(conn, value)
    if stored is None:
        return answer({"active": False})
    return answer({"active": True, "client_id": stored.client_id, "scope": stored.data.get("scope", ""),
                   "exp": int(stored.expires.timestamp()), "sub": stored.data.get("username") or stored.client_id})


@endpoint
async def revoke(request: Request) -> Response:
    params = await form(request)
    auth, base = layer(request), server_base(request)
    value = params.get("token")
    if not value:
        raise InvalidRequest("token is required")
    async with auth.server.pool.connection() as conn:
        client = await authenticate(conn, request.headers.get("authorization"), params, f"{base}/auth/token",
                                    auth.client_keys, auth.config.assertion_max_seconds)
        await _revoke(conn, auth, client, value, base)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


async def _revoke(conn: Conn, auth: SmartAuth, client: Client, value: str, base: str) -> None:
    claims = _access_claims(auth, value, base, verify_exp=False)
    if claims is not None:
        if claims.get("client_id") != client.client_id:
            raise UnauthorizedClient("the token was not issued to this client")
        await grants.revoke(conn, str(claims["jti"]), datetime.fromtimestamp(int(claims["exp"]), UTC))
        return
    stored = await grants.find_refresh(conn, value)
    if stored is None:
        return  # RFC 7009 §2.2: an invalid or unknown token is not an error
    if stored.client_id != client.client_id:
        raise UnauthorizedClient("the token was not issued to this client")
    await grants.revoke_grant(conn, stored.grant_id, auth.config.access_seconds)
