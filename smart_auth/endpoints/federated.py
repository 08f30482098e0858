"""Sign in with Google or another OpenID Connect provider (OpenID Connect Core 1.0 §3.1: authorization
code flow with ``state``, ``nonce`` and PKCE S256; scopes ``openid email profile``).

``/auth/oidc/start`` stores the state (hashed), nonce, PKCE verifier and the authorize request being
served, binds them to this browser with a cookie, and sends the person to the provider.
``/auth/oidc/callback`` takes the state once, checks the browser, exchanges the code with the
verifier at exactly the same redirect URI, and validates the ID token (``oidc``). The account is the
one linked to that provider subject before; else the account whose confirmed email equals the
provider's *verified* email (then linked); else, if the settings allow, a new patient account.
Then the usual second step and the authorize flow go on (``signin.after_primary``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fhir_server.storage.repository import Conn
from smart_auth import accounts, grants, oidc, users
from smart_auth.config import OidcProvider
from smart_auth.endpoints import signin, views
from smart_auth.grants import digest, new_secret
from smart_auth.http import layer, server_base
from smart_auth.users import User

Json = dict[str, Any]
log = logging.getLogger("smart_auth.oidc")
COOKIE = "smart_oidc"
STATE_SECONDS = 600
FAILED = "We could not confirm your sign-in with {name}. Please try again, or sign in with your password."


def _provider(request: Request, key: str) -> OidcProvider | None:
    return next((p for p in layer(request).config.oidc if p.key == key), None)


def _redirect_uri(request: Request) -> str:
    return f"{server_base(request)}/auth/oidc/callback"


async def start(request: Request) -> Response:
    """GET /auth/oidc/start?provider=google&request=…: off to the provider."""
    q = request.query_params
    provider = _provider(request, q.get("provider", ""))
    if provider is None:
        return views.error("This way of signing in is not available.", 404)
    auth, rid = layer(request), q.get("request", "")
    try:
        meta = await oidc.client(provider).metadata()
    except oidc.OidcError as exc:
        log.warning("%s discovery failed: %s", provider.key, exc)
        return views.error(f"Signing in with {provider.name} is not available right now. Please try again later "
                           "or sign in with your password.", 502)
    state, nonce, verifier, browser = new_secret(), new_secret(), secrets.token_urlsafe(48), new_secret()
    async with auth.server.pool.connection() as conn:
        if rid and await grants.load_request(conn, rid) is None:
            return views.error("This sign-in request has expired. Start again from the app.")
        await conn.execute(
            "INSERT INTO auth_oidc_state (state_hash, provider, browser, nonce, verifier, request_id, expires) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (digest(state), provider.key, digest(browser), nonce, verifier, rid or None,
             datetime.now(UTC) + timedelta(seconds=STATE_SECONDS)))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {"client_id": provider.client_id, "response_type": "code", "scope": provider.scope,
             "redirect_uri": _redirect_uri(request), "state": state, "nonce": nonce, "code_challenge": challenge,
             "code_challenge_method": "S256"}
    response = RedirectResponse(f"{meta['authorization_endpoint']}?{urlencode(query)}", 303)
    response.set_cookie(COOKIE, browser, max_age=STATE_SECONDS, httponly=True, samesite="lax",
                        secure=auth.config.cookie_secure, path="/auth/oidc")
    return response


async def _take_state(conn: Conn, state: str) -> tuple[Any, ...] | None:
    if not state or len(state) > 200 or "\x00" in state:
        return None
    cur = await conn.execute(
        "DELETE FROM auth_oidc_state WHERE state_hash = %s RETURNING provider, browser, nonce, verifier, request_id, "
        "expires > now()", (digest(state),))
    row = await cur.fetchone()
    return tuple(row) if row and row[5] else None


async def callback(request: Request) -> Response:
    """GET /auth/oidc/callback?code=…&state=… (or ?error=…&state=…)."""
    auth, q = layer(request), request.query_params
    async with auth.server.pool.connection() as conn:
        row = await _take_state(conn, q.get("state", ""))
        browser = request.cookies.get(COOKIE, "")
        if row is None or not hmac.compare_digest(digest(browser).encode(), str(row[1]).encode()):
            return views.error("This sign-in has expired or was started in another browser. Please start again.")
        provider = _provider(request, row[0])
        rid = row[4] or ""
        pending = await grants.load_request(conn, rid) if rid else None
        if provider is None or (rid and pending is None):
            return views.error("This sign-in request has expired. Start again from the app.")
        if q.get("error") or not q.get("code"):
            return views.login_page(request, rid, pending, 401, f"Signing in with {provider.name} was cancelled.")
        client = oidc.client(provider)
        try:
            tokens = await client.exchange(q["code"], row[3], _redirect_uri(request))
            claims = await client.verify(tokens["id_token"], row[2])
        except oidc.OidcError as exc:
            log.warning("%s sign-in refused: %s", provider.key, exc)
            return views.error(FAILED.format(name=provider.name), 401, "Sign-in not confirmed")
        user = await _account(request, conn, provider, claims)
        if isinstance(user, Response):
            return user
        response = await signin.after_primary(request, conn, rid, pending, user)
    response.delete_cookie(COOKIE, path="/auth/oidc")
    return response


async def _account(request: Request, conn: Conn, provider: OidcProvider, claims: Json) -> User | Response:
    """The account of these claims: linked before, linked now by verified email, or new (patients)."""
    subject = str(claims["sub"])
    cur = await conn.execute("SELECT username FROM auth_identity WHERE provider = %s AND subject = %s",
                             (provider.key, subject))
    row = await cur.fetchone()
    if row is not None:
        linked = await users.get_user(conn, row[0])
        if linked is not None:
            return linked
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    if not email or not oidc.email_verified(claims):
        return views.error(f"{provider.name} did not confirm an email address for this account, so it cannot be "
                           "linked to an account here.", 403, "Sign-in not possible")
    user = await users.by_email(conn, email)
    if user is not None and not user.email_verified:
        return views.error(f"The account for {email} here has not confirmed its email address yet. Please open the "
                           "link we sent to it, or sign in with your password.", 403, "Sign-in not possible")
    if user is None:
        if not provider.create_patients:
            return views.error(f"There is no account for {email} here. Please ask your clinic to invite you "
                               "with this email address.", 403, "No account")
        name = claims.get("name") if isinstance(claims.get("name"), str) else email.split("@")[0]
        user = await accounts.new_patient_account(layer(request).server, conn, str(name)[:200], email, None, None,
                                                  True)
    await conn.execute("INSERT INTO auth_identity (provider, subject, username, email) VALUES (%s, %s, %s, %s) "
                       "ON CONFLICT DO NOTHING", (provider.key, subject, user.username, email))
    return user
