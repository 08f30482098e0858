"""SMART App Launch 2.x token response (RFC 6749 §5.1) and the access and ID tokens it carries.

Access tokens are RS256 JWTs (RFC 9068 shape: ``typ: at+jwt``, ``iss``, ``aud`` = the FHIR base
URL, ``sub``, ``client_id``, ``scope``, ``jti``, short ``exp``) that also carry the launch context
(``patient``, ``encounter``, ``fhirUser``) and the grant they belong to; the FHIR server checks them
without a database round trip except for the revocation list. ID tokens (OpenID Connect Core §2)
are RS256 JWTs for the client: ``iss``, ``sub``, ``aud`` = client_id, ``nonce``, ``fhirUser``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from fhir_server.audit import annotate
from fhir_server.storage.repository import Conn
from smart_auth import grants
from smart_auth.config import AuthConfig
from smart_auth.keys import ALG, KeyRing
from smart_auth.scopes import Scopes

Json = dict[str, Any]
ACCESS_TYP = "at+jwt"
CONTEXT_KEYS = ("patient", "encounter", "fhirContext", "need_patient_banner", "smart_style_url", "intent", "tenant")


@dataclass(slots=True)
class Grant:
    """What one authorization granted: the client, the scopes, the user and the launch context."""

    grant_id: str
    client_id: str
    scopes: Scopes
    username: str | None = None
    fhir_user: str | None = None  # relative: Practitioner/123
    context: Json = field(default_factory=dict)
    nonce: str | None = None

    def data(self) -> Json:
        return {"scope": self.scopes.text, "username": self.username, "fhir_user": self.fhir_user,
                "context": self.context, "nonce": self.nonce}

    @classmethod
    def from_data(cls, grant_id: str, client_id: str, data: Json) -> Grant:
        return cls(grant_id, client_id, Scopes.parse(data.get("scope")), data.get("username"),
                   data.get("fhir_user"), dict(data.get("context") or {}), data.get("nonce"))


@dataclass(slots=True)
class Principal:
    """The caller behind a verified access token."""

    client_id: str
    subject: str
    scopes: Scopes
    jti: str
    grant_id: str | None
    expires: int
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None  # relative

    @classmethod
    def from_claims(cls, claims: Json) -> Principal:
        fhir_user = claims.get("fhirUser")
        relative = "/".join(fhir_user.rstrip("/").split("/")[-2:]) if isinstance(fhir_user, str) else None
        return cls(str(claims["client_id"]), str(claims["sub"]), Scopes.parse(claims.get("scope")), str(claims["jti"]),
                   claims.get("grant"), int(claims["exp"]), claims.get("patient"), claims.get("encounter"), relative)


class Issuer:
    """Mints the tokens of a token response."""

    def __init__(self, ring: KeyRing, config: AuthConfig) -> None:
        self.ring, self.config = ring, config

    def access_token(self, grant: Grant, base: str, seconds: int | None = None) -> tuple[str, int]:
        now = int(time.time())
        ttl = seconds or self.config.access_seconds
        claims: Json = {"iss": base, "aud": base, "sub": grant.username or grant.client_id,
                        "client_id": grant.client_id, "scope": grant.scopes.text, "iat": now, "exp": now + ttl,
                        "jti": grants.new_id(), "grant": grant.grant_id}
        for key in ("patient", "encounter"):
            if grant.context.get(key):
                claims[key] = grant.context[key]
        if grant.fhir_user:
            claims["fhirUser"] = f"{base}/{grant.fhir_user}"
        return self.ring.sign(claims, ACCESS_TYP), ttl

    def id_token(self, grant: Grant, base: str) -> str:
        now = int(time.time())
        claims: Json = {"iss": base, "sub": grant.username or grant.client_id, "aud": grant.client_id, "iat": now,
                        "exp": now + self.config.access_seconds}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if grant.fhir_user and ("fhirUser" in grant.scopes or "profile" in grant.scopes):
            claims["fhirUser"] = f"{base}/{grant.fhir_user}"
        return self.ring.sign(claims)

    async def respond(self, conn: Conn, grant: Grant, base: str, refresh_scopes: Scopes | None = None) -> Json:
        """The token response; a new refresh token (keeping ``refresh_scopes``, by default the grant's) when
        the grant has ``offline_access`` or ``online_access``."""
        token, ttl = self.access_token(grant, base)
        annotate(username=grant.username, user=grant.fhir_user, patient=grant.context.get("patient"),
                 scope=grant.scopes.text)  # the audit record of this token request
        body: Json = {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": grant.scopes.text}
        keep = refresh_scopes or grant.scopes
        if "offline_access" in keep or "online_access" in keep:
            seconds = self.config.refresh_seconds if "offline_access" in keep else self.config.online_seconds
            stored = Grant(grant.grant_id, grant.client_id, keep, grant.username, grant.fhir_user, grant.context,
                           grant.nonce)
            body["refresh_token"] = await grants.save_refresh(conn, grant.grant_id, grant.client_id, stored.data(),
                                                              seconds)
        if "openid" in grant.scopes and grant.username:
            body["id_token"] = self.id_token(grant, base)
        if grant.fhir_user and "fhirUser" in grant.scopes:
            body["fhirUser"] = f"{base}/{grant.fhir_user}"
        body.update({k: v for k, v in grant.context.items() if k in CONTEXT_KEYS and v not in (None, "")})
        return body


def verify(ring: KeyRing, token: str, audience: str) -> Json:
    """The claims of a valid access token issued by this server for ``audience``; ``jwt.PyJWTError`` if not."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != ACCESS_TYP:
        raise jwt.InvalidTokenError("not an access token")
    key = ring.public_key(str(header.get("kid")))
    if key is None:
        raise jwt.InvalidTokenError("signed with a key this server does not have")
    claims: Json = jwt.decode(token, key, algorithms=[ALG], audience=audience, issuer=audience,
                              options={"require": ["exp", "iat", "jti", "sub", "client_id", "scope"]})
    return claims
