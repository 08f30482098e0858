"""Client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2/§3, SMART Backend Services).

``client_secret_basic`` (HTTP Basic), ``client_secret_post`` (form fields), ``none`` (a public client
names itself with ``client_id``) and ``private_key_jwt``: a JWT client assertion signed with the
client's key (RS384/ES384 and the other RSA, ECDSA and RSA-PSS algorithms; never ``none`` or HMAC),
found by ``kid`` in the JWKS registered inline or fetched from its ``jwks_uri``. The assertion's
``iss`` and ``sub`` are the client_id, ``aud`` is the token endpoint URL, ``exp`` is at most five
minutes ahead, and its ``jti`` is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import httpx
import jwt

from fhir_server.storage.repository import Conn
from smart_auth import clients, grants
from smart_auth.clients import Client
from smart_auth.errors import InvalidClient, InvalidRequest, token_problem

Json = dict[str, Any]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
JWKS_TTL = 300.0


class ClientKeys:
    """Client JWK Sets fetched from ``jwks_uri``, cached for a few minutes."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[Json]]] = {}

    async def keys(self, client: Client, refresh: bool = False) -> list[Json]:
        if client.jwks is not None:
            return [k for k in client.jwks.get("keys", []) if isinstance(k, dict)]
        url = client.jwks_uri or ""
        cached = self._cache.get(url)
        if cached is not None and not refresh and time.monotonic() - cached[0] < JWKS_TTL:
            return cached[1]
        try:
            async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
                resp = await http.get(url, headers={"Accept": "application/json"})
            data = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise InvalidClient(f"the client's jwks_uri could not be read ({type(exc).__name__})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise InvalidClient("the client's jwks_uri did not answer with a JWK Set")
        found = [k for k in data["keys"] if isinstance(k, dict)]
        self._cache[url] = (time.monotonic(), found)
        return found


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("the Basic credentials are not base64 of client_id:client_secret") from exc
    if not sep:
        raise InvalidClient("the Basic credentials are not client_id:client_secret")
    return unquote_plus(user), unquote_plus(secret)


async def authenticate(conn: Conn, authorization: str | None, form: dict[str, str], token_url: str,
                       keys: ClientKeys, max_exp: int) -> Client:
    """The client making this request, authenticated by the method it was registered with."""
    basic = _basic(authorization)
    methods = [m for m, present in (("basic", basic is not None), ("post", "client_secret" in form),
                                    ("jwt", "client_assertion" in form or "client_assertion_type" in form)) if present]
    if len(methods) > 1:
        raise InvalidRequest("use exactly one client authentication method")
    if methods == ["jwt"]:
        return await _assertion(conn, form, token_url, keys, max_exp)
    client_id = basic[0] if basic else form.get("client_id")
    if not client_id:
        raise InvalidClient("no client authentication and no client_id")
    if basic and form.get("client_id") not in (None, client_id):
        raise InvalidRequest("client_id differs from the authenticated client")
    client = await clients.get(conn, client_id)
    if client is None:
        raise InvalidClient(f"unknown client '{client_id}'")
    if not methods:
        if client.auth_method != "none":
            raise InvalidClient(f"client '{client_id}' must authenticate ({client.auth_method})")
        return client
    secret = basic[1] if basic else form.get("client_secret", "")
    if not client.auth_method.startswith("client_secret") or not client.secret_matches(secret):
        raise InvalidClient("client authentication failed")
    return client


async def _assertion(conn: Conn, form: dict[str, str], token_url: str, keys: ClientKeys, max_exp: int) -> Client:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidClient(f"the client assertion {token_problem(exc)}") from exc
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidClient(f"the client assertion algorithm '{alg}' is not accepted (use RS384 or ES384)")
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or unverified.get("sub") != client_id:
        raise InvalidClient("the client assertion's iss and sub must both be the client_id")
    if form.get("client_id") not in (None, client_id):
        raise InvalidClient("client_id differs from the client assertion's issuer")
    client = await clients.get(conn, client_id)
    if client is None or client.auth_method != "private_key_jwt":
        raise InvalidClient(f"'{client_id}' is not a client registered for private_key_jwt")
    if "jku" in header and header["jku"] != client.jwks_uri:
        raise InvalidClient("the assertion's jku is not the client's registered jwks_uri")
    claims = _verify(assertion, alg, await _key(client, header, keys), client_id, token_url)
    if int(claims["exp"]) > time.time() + max_exp:
        raise InvalidClient(f"the client assertion's exp is more than {max_exp} seconds ahead")
    if not await grants.first_use_of_jti(conn, client_id, str(claims["jti"]),
                                         datetime.fromtimestamp(int(claims["exp"]), UTC)):
        raise InvalidClient("the client assertion's jti was used before (replay)")
    return client


async def _key(client: Client, header: Json, keys: ClientKeys) -> Any:
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidClient("the client assertion header needs a kid")
    found = [k for k in await keys.keys(client) if k.get("kid") == kid]
    if not found and client.jwks_uri:
        found = [k for k in await keys.keys(client, refresh=True) if k.get("kid") == kid]
    if not found:
        raise InvalidClient(f"no key '{kid}' in the client's JWK Set")
    try:
        return jwt.PyJWK(found[0], algorithm=header["alg"]).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClient(f"the client's key '{kid}' cannot verify {header['alg']} ({exc})") from exc


def _verify(assertion: str, alg: str, key: Any, client_id: str, token_url: str) -> Json:
    try:
        claims: Json = jwt.decode(assertion, key, algorithms=[alg], audience=token_url, issuer=client_id,
                                  options={"require": ["iss", "sub", "aud", "exp", "jti"]})
    except jwt.PyJWTError as exc:
        raise InvalidClient(f"the client assertion {token_problem(exc)}") from exc
    except (ValueError, TypeError) as exc:  # e.g. a key of the wrong type for the algorithm
        raise InvalidClient(f"the client assertion cannot be verified with the client's key ({exc})") from exc
    return claims
