"""OpenID Connect relying party for "Sign in with Google" and any other provider (OpenID Connect Core 1.0
§3.1 authorization code flow, §3.1.3.7 ID token validation; OpenID Connect Discovery 1.0 §4; RFC 7636
PKCE; RFC 7517 JWK Sets).

``ProviderClient`` reads the provider's discovery document (its ``issuer`` must be the configured
one; cached per ``Cache-Control: max-age``), exchanges a code at its token endpoint (client secret
by HTTP Basic when offered, else in the form; with the PKCE verifier), and validates the ID token:
signature by a key of the provider's JWKS chosen by ``kid`` (re-read once when the ``kid`` is
unknown: keys rotate), an asymmetric algorithm the provider announces (never ``none`` or HMAC),
``iss`` (Google's scheme-less form too), ``aud`` containing our client id (and ``azp`` = it when
there are several audiences), ``exp`` and ``iat`` (one minute of clock skew), and ``nonce``.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from typing import Any

import httpx
import jwt

from smart_auth.config import OidcProvider

Json = dict[str, Any]
log = logging.getLogger("smart_auth.oidc")
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY = 60
TIMEOUT = 10.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class OidcError(Exception):
    """The provider's answer cannot be trusted or used (the reason is logged, not shown)."""


def _max_age(response: httpx.Response, default: int = 3600) -> int:
    m = _MAX_AGE.search(response.headers.get("cache-control", ""))
    return min(int(m.group(1)), 86400) if m else default


async def _get_json(url: str) -> tuple[Json, int]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise OidcError(f"GET {url}: HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise OidcError(f"GET {url}: not JSON") from exc
    if not isinstance(data, dict):
        raise OidcError(f"GET {url}: not a JSON object")
    return data, _max_age(response)


class ProviderClient:
    def __init__(self, provider: OidcProvider) -> None:
        self.provider = provider
        self._meta: Json | None = None
        self._meta_until = 0.0
        self._keys: dict[str, Any] = {}

    async def metadata(self) -> Json:
        if self._meta is None or time.time() > self._meta_until:
            meta, age = await _get_json(self.provider.discovery)
            if meta.get("issuer") != self.provider.issuer:
                raise OidcError(f"the discovery document names issuer {meta.get('issuer')!r}, "
                                f"not {self.provider.issuer!r}")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(meta.get(key), str):
                    raise OidcError(f"the discovery document has no {key}")
            self._meta, self._meta_until = meta, time.time() + age
        return self._meta

    async def _load_keys(self) -> None:
        jwks, _ = await _get_json((await self.metadata())["jwks_uri"])
        keys: dict[str, Any] = {}
        for jwk in jwks.get("keys", []) if isinstance(jwks.get("keys"), list) else []:
            try:
                keys[str(jwk.get("kid", ""))] = jwt.PyJWK(jwk).key
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # a key of a type or use we cannot read
        self._keys = keys

    async def key(self, kid: str) -> Any:
        if kid not in self._keys:
            await self._load_keys()
        if kid not in self._keys:
            raise OidcError(f"no key '{kid}' in the provider's JWKS")
        return self._keys[kid]

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> Json:
        """The token response for ``code`` (it must carry an ID token)."""
        meta = await self.metadata()
        p = self.provider
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}
        auth: httpx.BasicAuth | None = None
        if "client_secret_basic" in meta.get("token_endpoint_auth_methods_supported", ["client_secret_basic"]):
            auth = httpx.BasicAuth(p.client_id, p.client_secret)
        else:
            data.update(client_id=p.client_id, client_secret=p.client_secret)
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.post(meta["token_endpoint"], data=data, auth=auth or httpx.USE_CLIENT_DEFAULT,
                                       headers={"Accept": "application/json"})
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise OidcError(f"token endpoint: HTTP {response.status_code} {str(body)[:200]}")
        if not isinstance(body.get("id_token"), str):
            raise OidcError("the token response has no id_token")
        return body

    async def verify(self, id_token: str, nonce: str) -> Json:
        """The claims of a valid ID token for us with this nonce (OpenID Connect Core §3.1.3.7)."""
        meta = await self.metadata()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is not a JWT: {exc}") from exc
        alg = header.get("alg")
        allowed = [a for a in meta.get("id_token_signing_alg_values_supported", ["RS256"]) if a in ASYMMETRIC]
        if alg not in allowed:
            raise OidcError(f"ID token algorithm {alg!r} is not accepted")
        key = await self.key(str(header.get("kid", "")))
        p = self.provider
        try:
            claims: Json = jwt.decode(id_token, key, algorithms=[str(alg)], audience=p.client_id,
                                      issuer=list(p.issuers), leeway=LEEWAY,
                                      options={"require": ["iss", "sub", "aud", "exp", "iat"]})
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != p.client_id:
            raise OidcError("the ID token has several audiences and azp is not our client id")
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"].encode(),
                                                                              nonce.encode()):
            raise OidcError("the ID token's nonce is not the one sent")
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 255:
            raise OidcError("the ID token's sub is not a string of 1 to 255 characters")
        return claims


def email_verified(claims: Json) -> bool:
    """``email_verified`` is a JSON boolean in ID tokens, a string in some of Google's samples."""
    value = claims.get("email_verified")
    return value is True or value == "true"


_clients: dict[OidcProvider, ProviderClient] = {}


def client(provider: OidcProvider) -> ProviderClient:
    if provider not in _clients:
        _clients[provider] = ProviderClient(provider)
    return _clients[provider]
