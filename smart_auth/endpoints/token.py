"""The token endpoint (RFC 6749 §3.2): authorization_code with PKCE (§4.1.3, RFC 7636 §4.6),
refresh_token with rotation (§6), and client_credentials for SMART Backend Services (§4.4).

A code is taken once: a second use is refused and revokes everything issued under it (§4.1.2). A
refresh token is rotated: the used one is refused afterwards, and presenting it again revokes the
whole grant (a stolen token is then useless to both holders). A refresh may narrow the scope,
never widen it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.audit import annotate
from fhir_server.storage.repository import Conn
from smart_auth import grants
from smart_auth.client_auth import authenticate
from smart_auth.clients import Client
from smart_auth.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient, UnsupportedGrantType
from smart_auth.http import answer, endpoint, form, layer, server_base
from smart_auth.layer import SmartAuth
from smart_auth.scopes import ScopeError, Scopes
from smart_auth.tokens import Grant

VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


@endpoint
async def token(request: Request) -> Response:
    params = await form(request)
    auth = layer(request)
    base = server_base(request)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
        raise UnsupportedGrantType(f"grant_type '{grant_type}' is not supported")
    async with auth.server.pool.connection() as conn:
        client = await authenticate(conn, request.headers.get("authorization"), params, f"{base}/auth/token",
                                    auth.client_keys, auth.config.assertion_max_seconds)
        annotate(client=client.client_id)
        if grant_type == "authorization_code":
            body = await _code(conn, auth, client, params, base)
        elif grant_type == "refresh_token":
            body = await _refresh(conn, auth, client, params, base)
        else:
            body = await _client_credentials(conn, auth, client, params, base)
    return answer(body)


async def _code(conn: Conn, auth: SmartAuth, client: Client, params: dict[str, str], base: str) -> dict[str, object]:
    if client.kind == "backend":
        raise UnauthorizedClient("a backend client uses client_credentials")
    code, verifier = params.get("code"), params.get("code_verifier")
    if not code:
        raise InvalidRequest("code is required")
    if not verifier:
        raise InvalidRequest("code_verifier is required (PKCE)")
    stored, reused_grant = await grants.take_code(conn, code)
    if reused_grant is not None:
        await grants.revoke_grant(conn, reused_grant, auth.config.access_seconds)
        raise InvalidGrant("the authorization code was already used; the tokens issued for it are revoked")
    if stored is None:
        raise InvalidGrant("the authorization code is not valid")
    if stored.client_id != client.client_id:
        raise InvalidGrant("the authorization code was issued to another client")
    if stored.expires.timestamp() < time.time():
        raise InvalidGrant("the authorization code has expired")
    if params.get("redirect_uri", "") != stored.data.get("redirect_uri_param", ""):
        raise InvalidGrant("redirect_uri differs from the one in the authorization request")
    if not VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), stored.challenge):
        raise InvalidGrant("the code_verifier does not match the code_challenge")
    grant = Grant.from_data(stored.grant_id, client.client_id, stored.data)
    return await auth.issuer.respond(conn, grant, base)


async def _refresh(conn: Conn, auth: SmartAuth, client: Client, params: dict[str, str], base: str) -> dict[str, object]:
    token_value = params.get("refresh_token")
    if not token_value:
        raise InvalidRequest("refresh_token is required")
    current = await grants.find_refresh(conn, token_value)
    if current is not None:
        if current.client_id != client.client_id:
            raise InvalidGrant("the refresh token was issued to another client")
        _narrowed(params, Scopes.parse(current.data.get("scope")))  # a bad scope leaves the token usable
    stored, reused_grant = await grants.take_refresh(conn, token_value)
    if reused_grant is not None:
        await grants.revoke_grant(conn, reused_grant, auth.config.access_seconds)
        raise InvalidGrant("the refresh token was already used; the grant is revoked")
    if stored is None or stored.client_id != client.client_id or await grants.is_revoked(conn, [stored.grant_id]):
        raise InvalidGrant("the refresh token is not valid")
    grant = Grant.from_data(stored.grant_id, client.client_id, stored.data)
    original = grant.scopes
    grant.scopes = _narrowed(params, original)
    return await auth.issuer.respond(conn, grant, base, refresh_scopes=original)


def _narrowed(params: dict[str, str], granted: Scopes) -> Scopes:
    """The scope asked for on refresh: the granted one, or a narrower one (RFC 6749 §6)."""
    if "scope" not in params:
        return granted
    try:
        wanted = Scopes.parse(params["scope"])
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from exc
    if not wanted or not wanted.within(granted):
        raise InvalidScope("a refresh may narrow the granted scope but not widen it")
    return wanted


async def _client_credentials(conn: Conn, auth: SmartAuth, client: Client, params: dict[str, str],
                              base: str) -> dict[str, object]:
    if client.kind != "backend":
        raise UnauthorizedClient("client_credentials is for backend clients (SMART Backend Services)")
    try:
        wanted = Scopes.parse(params.get("scope"))
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from exc
    granted = wanted.with_context("system").intersect(client.scopes).only(
        lambda s: not s.query or auth.compartments.supports(s.res_type, s.query), other=())
    if not granted.resources:
        raise InvalidScope("no system/ scope requested that this client may be granted")
    grant = Grant(grants.new_id(), client.client_id, granted)
    return await auth.issuer.respond(conn, grant, base)

