"""The authorization endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3, SMART App Launch 2.x "authorize").

Checks come in the order RFC 6749 §4.1.2.1 demands: first the client and its exact redirect URI —
when either is wrong the user sees an error page and nothing is redirected — then everything else,
whose errors go back to the app's redirect URI with ``state``: ``response_type=code``, ``state``,
``aud`` = this FHIR base URL, PKCE with ``S256`` (``plain`` is refused), the scopes (narrowed to
what the client is registered for), and for an EHR launch the ``launch`` value. The checked
request is stored, and the login, patient picker and consent pages (``pages``) carry it on.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.storage.repository import Conn
from smart_auth import clients, grants, sessions
from smart_auth.clients import Client
from smart_auth.endpoints import pages
from smart_auth.errors import InvalidRequest, InvalidScope, OAuthError, UnauthorizedClient, UnsupportedResponseType
from smart_auth.http import form, layer, pairs_to_dict, redirect_with, server_base
from smart_auth.layer import SmartAuth
from smart_auth.scopes import ScopeError, Scopes
from smart_auth.templates import render

Json = dict[str, Any]
CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43,128}")


class PageError(Exception):
    """An error shown to the user instead of redirected (unknown client, unregistered redirect URI)."""


async def _params(request: Request) -> dict[str, str]:
    if request.method == "POST":
        return await form(request)
    return pairs_to_dict(list(request.query_params.multi_items()))


async def _client(conn: Conn, p: dict[str, str]) -> tuple[Client, str]:
    client_id = p.get("client_id")
    if not client_id:
        raise PageError("The request names no client (client_id is missing).")
    client = await clients.get(conn, client_id)
    if client is None:
        raise PageError(f"The client '{client_id}' is not registered with this server.")
    given = p.get("redirect_uri")
    if given is None and len(client.redirect_uris) == 1:
        return client, client.redirect_uris[0]
    if given is None or given not in client.redirect_uris:
        raise PageError("The redirect_uri is not one registered for this client, so the app cannot be told.")
    return client, given


def _check_request(client: Client, p: dict[str, str], base: str) -> None:
    if p.get("response_type") != "code":
        raise UnsupportedResponseType("response_type must be 'code'")
    if client.kind == "backend":
        raise UnauthorizedClient("a backend client cannot use the authorization code flow")
    if not p.get("state"):
        raise InvalidRequest("state is required")
    if (p.get("aud") or "").rstrip("/") != base:
        raise InvalidRequest(f"aud must be this FHIR server's base URL ({base})")
    method = p.get("code_challenge_method")
    if method != "S256":
        refused = f"; '{method}' is refused" if method else ""
        raise InvalidRequest(f"PKCE with code_challenge_method=S256 is required{refused}")
    if not CHALLENGE.fullmatch(p.get("code_challenge") or ""):
        raise InvalidRequest("code_challenge must be the base64url S256 hash of the code_verifier")


async def _context(conn: Conn, auth: SmartAuth, client: Client, p: dict[str, str], base: str) -> Json:
    launch = p.get("launch")
    if launch is None:
        return {"need_patient_banner": True, "smart_style_url": f"{base}/auth/smart-style.json"}
    context = await grants.load_launch(conn, launch, client.client_id)
    if context is None:
        raise InvalidRequest("the launch value is unknown, expired, or issued for another app")
    return {"smart_style_url": f"{base}/auth/smart-style.json", **context}


def _scopes(auth: SmartAuth, client: Client, p: dict[str, str], context: Json) -> Scopes:
    try:
        wanted = Scopes.parse(p.get("scope"))
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from exc
    granted = wanted.intersect(client.scopes).only(
        lambda s: s.context != "system" and (not s.query or auth.compartments.supports(s.res_type, s.query)))
    if "launch" not in p:
        granted = granted.without("launch")
    if not context.get("encounter"):
        granted = granted.without("launch/encounter")
    if not granted:
        raise InvalidScope("none of the requested scopes can be granted to this client")
    return granted


async def authorize(request: Request) -> Response:
    auth, base = layer(request), server_base(request)
    try:
        p = await _params(request)
    except OAuthError as exc:
        return render("error.html", 400, message=exc.description)
    async with auth.server.pool.connection() as conn:
        try:
            client, redirect_uri = await _client(conn, p)
        except PageError as exc:
            return render("error.html", 400, message=str(exc))
        try:
            _check_request(client, p, base)
            context = await _context(conn, auth, client, p, base)
            scopes = _scopes(auth, client, p, context)
        except OAuthError as exc:
            return redirect_with(redirect_uri, exc.to_query(p.get("state")))
        need_patient = ("launch/patient" in scopes or any(s.context == "patient" for s in scopes.resources))
        pending: Json = {
            "client_id": client.client_id, "client_name": client.name, "redirect_uri": redirect_uri,
            "redirect_uri_param": p.get("redirect_uri", ""), "state": p["state"], "challenge": p["code_challenge"],
            "nonce": p.get("nonce"), "scope": scopes.text, "context": context,
            "need_patient": need_patient and not context.get("patient"), "username": None,
        }
        rid = await grants.save_request(conn, pending, auth.config.request_seconds)
        user = await sessions.session_user(conn, request.cookies.get(pages.COOKIE))
    return await pages.next_step(request, rid, pending, user)
