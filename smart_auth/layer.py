"""The authorization layer plugged into the FHIR server (SMART App Launch 2.x, RFC 6750 bearer tokens).

``SmartAuth`` holds what every auth endpoint and the guard share: the settings, the server's keys
(loaded at start), the client-key cache, and the compartment checks. ``authenticate`` turns a
request's ``Authorization: Bearer`` header into the ``Access`` of its token — or a 401 with
``WWW-Authenticate: Bearer`` (RFC 6750 §3) when the token is missing, malformed, expired, for
another audience, or revoked (the revocation list is checked in PostgreSQL on every request, so a
revocation holds at once in every server process).
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from starlette.requests import Request

from fhir_server.access import Access
from fhir_server.config import Settings
from fhir_server.errors import Unauthorized
from fhir_server.rest.respond import base_url
from smart_auth import grants, keys, tokens
from smart_auth.client_auth import ClientKeys
from smart_auth.compartment import Compartments
from smart_auth.config import AuthConfig
from smart_auth.enforce import SmartAccess
from smart_auth.errors import token_problem
from smart_auth.keys import KeyRing
from smart_auth.mail import Mailer, make_mailer
from smart_auth.tokens import Issuer, Principal

log = logging.getLogger(__name__)
Json = dict[str, Any]
REALM = 'Bearer realm="fhir"'


def _unauthorized(message: str, error: str | None = None) -> Unauthorized:
    challenge = REALM if error is None else f'{REALM}, error="{error}", error_description="{message}"'
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


class SmartAuth:
    def __init__(self, settings: Settings) -> None:
        self.config = AuthConfig.from_settings(settings)
        self.client_keys = ClientKeys()
        self.mailer: Mailer = make_mailer(self.config)  # account emails (verification, reset, invitation)
        self._ring: KeyRing | None = None
        self._server: Any = None
        self._compartments: Compartments | None = None

    async def start(self, server: Any) -> None:
        """Load (or make) the signing key and forget expired state; ``server`` is the FHIR ``Server``."""
        self._server = server
        self._compartments = Compartments(server)
        async with server.pool.connection() as conn:
            self._ring = await keys.load(conn)
            await grants.purge(conn)

    @property
    def server(self) -> Any:
        assert self._server is not None, "SmartAuth.start() has not run"
        return self._server

    @property
    def ring(self) -> KeyRing:
        assert self._ring is not None, "SmartAuth.start() has not run"
        return self._ring

    @property
    def compartments(self) -> Compartments:
        assert self._compartments is not None, "SmartAuth.start() has not run"
        return self._compartments

    @property
    def issuer(self) -> Issuer:
        return Issuer(self.ring, self.config)

    async def authenticate(self, request: Request) -> Access:
        header = request.headers.get("authorization")
        if not header:
            raise _unauthorized("This FHIR server requires an access token: send Authorization: Bearer <token> "
                                "(see /.well-known/smart-configuration)")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("The Authorization header must be 'Bearer <access token>'", "invalid_request")
        return await self.authenticate_token(token.strip(), base_url(request))

    async def authenticate_token(self, token: str, base: str) -> SmartAccess:
        """The ``Access`` of an access token presented to the FHIR base ``base`` (401 when it is not valid)."""
        try:
            claims = tokens.verify(self.ring, token, base)
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The access token has expired", "invalid_token") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
            raise _unauthorized(f"The access token is not valid here ({exc}): it was issued for another FHIR base "
                                "URL; use the server's URL exactly as the token names it (localhost is not "
                                "127.0.0.1)", "invalid_token") from None
        except jwt.PyJWTError as exc:
            log.info("access token refused: %s", exc)  # the detail stays in the server's log
            raise _unauthorized(f"The access token {token_problem(exc)}", "invalid_token") from None
        principal = Principal.from_claims(claims)
        if await self.is_revoked(principal):
            raise _unauthorized("The access token has been revoked", "invalid_token")
        return SmartAccess(principal, self.compartments)

    async def is_revoked(self, principal: Principal) -> bool:
        """Whether the token, or the grant it came from, has been revoked (checked in PostgreSQL)."""
        idents = [principal.jti, *([principal.grant_id] if principal.grant_id else [])]
        async with self.server.pool.connection() as conn:
            revoked: bool = await grants.is_revoked(conn, idents)
        return revoked

    def describe(self, statement: Json, base: str) -> None:
        """Add the SMART ``rest.security`` (oauth-uris extension) to a CapabilityStatement copy."""
        uris = [{"url": name, "valueUri": f"{base}/auth/{path}"} for name, path in (
            ("authorize", "authorize"), ("token", "token"), ("introspect", "introspect"), ("revoke", "revoke"),
            ("register", "register"))]
        security = {
            "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                           "extension": uris}],
            "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                     "code": "SMART-on-FHIR"}], "text": "OAuth2 using SMART-on-FHIR profile"}],
            "description": f"SMART App Launch 2.x; discovery at {base}/.well-known/smart-configuration",
        }
        rest = list(statement.get("rest") or [{}])
        rest[0] = {**rest[0], "security": security}
        statement["rest"] = rest
