"""RFC 6749 §5.2 / §4.1.2.1 error responses: the one error table of the authorization server.

Each ``OAuthError`` subclass fixes the ``error`` code and the HTTP status of a JSON error answer
(RFC 7009 §2.2.1 and RFC 7591 §3.2.2 add their codes; RFC 6750 §3.1 gives ``invalid_token``).
At the authorize endpoint, errors go back to the client's registered redirect URI as query
parameters (``to_query``) — never to an unregistered one.
"""

from __future__ import annotations

import re

import jwt
from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_NOT_ALLOWED = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")  # RFC 6749 §5.2 error_description characters


class OAuthError(Exception):
    """An error answered as ``{"error": ..., "error_description": ...}``."""

    error = "server_error"
    status = 400

    def __init__(self, description: str) -> None:
        description = _NOT_ALLOWED.sub("'", description)
        super().__init__(description)
        self.description = description

    def response(self) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = self.challenge()
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, self.status, headers=headers)

    def challenge(self) -> str:
        return 'Basic realm="smart_auth"'

    def to_query(self, state: str | None) -> dict[str, str]:
        out = {"error": self.error, "error_description": self.description}
        if state is not None:
            out["state"] = state
        return out


class InvalidRequest(OAuthError):
    error, status = "invalid_request", 400


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2: 401 with WWW-Authenticate)."""

    error, status = "invalid_client", 401


class InvalidGrant(OAuthError):
    error, status = "invalid_grant", 400


class UnauthorizedClient(OAuthError):
    error, status = "unauthorized_client", 400


class UnsupportedGrantType(OAuthError):
    error, status = "unsupported_grant_type", 400


class UnsupportedResponseType(OAuthError):
    error, status = "unsupported_response_type", 400


class InvalidScope(OAuthError):
    error, status = "invalid_scope", 400


class AccessDenied(OAuthError):
    error, status = "access_denied", 403


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1."""

    error, status = "unsupported_token_type", 400


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: a missing or bad bearer token (here: the registration endpoint's admin token)."""

    error, status = "invalid_token", 401

    def challenge(self) -> str:
        return f'Bearer error="invalid_token", error_description="{self.description}"'


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2."""

    error, status = "invalid_redirect_uri", 400


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    error, status = "invalid_client_metadata", 400


def token_problem(exc: Exception) -> str:
    """What is wrong with a JWT, in fixed words (PyJWT's own messages are internals, and may hold quotes
    that would break the WWW-Authenticate header)."""
    for kind, words in _PROBLEMS:
        if isinstance(exc, kind):
            return words
    return "is not valid here"


_PROBLEMS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "has expired"),
    (jwt.ImmatureSignatureError, "is not valid yet"),
    (jwt.InvalidAudienceError, "was issued for another audience"),
    (jwt.InvalidIssuerError, "was issued by another issuer"),
    (jwt.MissingRequiredClaimError, "lacks a required claim"),
    (jwt.InvalidSignatureError, "has a signature that does not verify"),
    (jwt.InvalidAlgorithmError, "is signed with an algorithm that is not accepted"),
    (jwt.DecodeError, "is not a well-formed JWT"),
)
