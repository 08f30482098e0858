"""A local fake of Google's OpenID Connect provider (shapes from Google's OpenID Connect guide and discovery
document; see shared/apis/google-oidc.md), served over HTTP on 127.0.0.1 with its own RSA keys.

It does what the guide says Google does: discovery with ``Cache-Control``, a JWKS with ``kid``s, an
authorization endpoint that checks the client and the *exact* redirect URI (a mismatch is an error
page, never a redirect) and shows an account chooser, single-use codes bound to the redirect URI and
the PKCE challenge, client authentication by Basic or form, ID tokens (RS256) with Google's claims,
and a userinfo endpoint. Tests steer it: ``identity`` (the account that signs in), ``tamper`` (claims
of the next ID token to override, e.g. a wrong ``nonce`` or ``aud``), ``sign_with_unknown_key``,
``alg_none``; ``requests`` records what it received.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.smart_auth.fakes.serve import ThreadServer

Json = dict[str, Any]
GOOGLE_ISSUER = "https://accounts.google.com"
MARA = {"sub": "104820374610938475612", "email": "m.okonkwo-test@clinic.example.org", "email_verified": True,
        "name": "Mara Okonkwo-Test", "given_name": "Mara", "family_name": "Okonkwo-Test", "hd": "clinic.example.org",
        "picture": "https://lh3.googleusercontent.com/a/FAKE-picture-id=s96-c"}


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeGoogle:
    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str],
                 issuer: str = GOOGLE_ISSUER) -> None:
        self.client_id, self.client_secret, self.redirect_uris = client_id, client_secret, list(redirect_uris)
        self.issuer = issuer
        self.keys = {"fake-kid-a1": _key(), "fake-kid-b7": _key()}
        self.signing_kid = "fake-kid-a1"
        self.unknown_key = _key()
        self.identity: Json = dict(MARA)
        self.tamper: Json = {}
        self.sign_with_unknown_key = False
        self.alg_none = False
        self.codes: dict[str, Json] = {}
        self.access: dict[str, Json] = {}
        self.requests: list[tuple[str, Json]] = []
        self.http = ThreadServer(self.app())
        self.base = self.http.base

    def start(self) -> FakeGoogle:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    @property
    def discovery_url(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"

    def reset(self) -> None:
        self.identity, self.tamper = dict(MARA), {}
        self.sign_with_unknown_key = self.alg_none = False

    # ---- endpoints ---------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/oauth2/v3/certs", self.jwks),
            Route("/o/oauth2/v2/auth", self.authorize),
            Route("/o/oauth2/v2/auth/approve", self.approve),
            Route("/token", self.token, methods=["POST"]),
            Route("/v1/userinfo", self.userinfo),
        ])

    async def discovery(self, request: Request) -> Response:
        b = self.base
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": f"{b}/o/oauth2/v2/auth",
            "device_authorization_endpoint": f"{b}/device/code", "token_endpoint": f"{b}/token",
            "userinfo_endpoint": f"{b}/v1/userinfo", "revocation_endpoint": f"{b}/revoke",
            "jwks_uri": f"{b}/oauth2/v3/certs",
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token",
                                         "token id_token", "code token id_token", "none"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss",
                                 "locale", "name", "picture", "sub"],
            "code_challenge_methods_supported": ["plain", "S256"],
        }, headers={"Cache-Control": "public, max-age=3600"})

    async def jwks(self, request: Request) -> Response:
        keys = []
        for kid, key in self.keys.items():
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return JSONResponse({"keys": keys}, headers={"Cache-Control": "public, max-age=21600"})

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.requests.append(("authorize", q))
        if q.get("client_id") != self.client_id:
            return HTMLResponse("<h1>Error 401: invalid_client</h1>", 401)
        if q.get("redirect_uri") not in self.redirect_uris:
            return HTMLResponse("<h1>Error 400: redirect_uri_mismatch</h1>", 400)
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return HTMLResponse("<h1>Error 400: invalid_request</h1>", 400)
        hidden = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in q.items())
        who = self.identity
        return HTMLResponse(
            "<!doctype html><html lang=en><head><title>Sign in - Google Accounts</title></head>"
            "<body style='font-family:sans-serif;max-width:28rem;margin:3rem auto'>"
            "<h1>Choose an account</h1><p>to continue to the FHIR server</p>"
            f"<form method=get action='{self.base}/o/oauth2/v2/auth/approve'>{hidden}"
            f"<button type=submit name=choice value=approve>{who['name']} &lt;{who['email']}&gt;</button> "
            "<button type=submit name=choice value=cancel>Cancel</button></form></body></html>")

    async def approve(self, request: Request) -> Response:
        q = dict(request.query_params)
        if q.get("redirect_uri") not in self.redirect_uris or q.get("client_id") != self.client_id:
            return HTMLResponse("<h1>Error 400: redirect_uri_mismatch</h1>", 400)
        back: Json = {"state": q.get("state", "")}
        if q.get("choice") != "approve":
            back["error"] = "access_denied"
        else:
            code = "4/0A" + secrets.token_urlsafe(24)
            self.codes[code] = {"redirect_uri": q["redirect_uri"], "nonce": q.get("nonce"),
                                "challenge": q.get("code_challenge"), "method": q.get("code_challenge_method"),
                                "identity": dict(self.identity)}
            back.update({"code": code, "scope": "email profile openid", "authuser": "0", "prompt": "consent"})
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(back)}", 302)

    def _client_ok(self, request: Request, form: Json) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return (user, password) == (self.client_id, self.client_secret)
        return (form.get("client_id"), form.get("client_secret")) == (self.client_id, self.client_secret)

    async def token(self, request: Request) -> Response:
        form: Json = dict(parse_qsl((await request.body()).decode()))
        self.requests.append(("token", {**form, "basic": request.headers.get("authorization", "")[:6]}))
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        stored = self.codes.pop(str(form.get("code")), None)
        if form.get("grant_type") != "authorization_code" or stored is None:
            return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        if form.get("redirect_uri") != stored["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        if stored["challenge"]:
            verifier = str(form.get("code_verifier", ""))
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if stored["method"] != "S256" or digest != stored["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        access = "ya29.FAKE-" + secrets.token_urlsafe(24)
        self.access[access] = stored["identity"]
        return JSONResponse({"access_token": access, "expires_in": 3599, "id_token": self.id_token(stored),
                             "scope": "openid https://www.googleapis.com/auth/userinfo.email "
                                      "https://www.googleapis.com/auth/userinfo.profile",
                             "token_type": "Bearer"})

    def id_token(self, stored: Json) -> str:
        now = int(time.time())
        claims: Json = {"iss": self.issuer, "azp": self.client_id, "aud": self.client_id, "iat": now,
                        "exp": now + 3600, **stored["identity"]}
        if stored["nonce"] is not None:
            claims["nonce"] = stored["nonce"]
        claims.update(self.tamper)
        claims = {k: v for k, v in claims.items() if v is not None}
        if self.alg_none:
            return jwt.encode(claims, "", algorithm="none", headers={"kid": self.signing_kid})
        key = self.unknown_key if self.sign_with_unknown_key else self.keys[self.signing_kid]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.signing_kid, "typ": "JWT"})

    async def userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        who = self.access.get(header[7:]) if header.startswith("Bearer ") else None
        if who is None:
            return JSONResponse({"error": "invalid_token"}, 401)
        return JSONResponse(who)
