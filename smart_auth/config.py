"""SMART App Launch 2.x authorization server settings: token lifetimes and the admin token.

Read from the environment once (``FHIR_AUTH_*``); the server's ``Settings`` carry the switches
that the CLI also sets (``auth_enabled``, ``auth_admin_token``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fhir_server.config import Settings


def _seconds(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.isdigit() else default


@dataclass(frozen=True, slots=True)
class AuthConfig:
    access_seconds: int = 3600  # FHIR_AUTH_TOKEN_SECONDS: access tokens (JWT) live this long
    code_seconds: int = 120  # authorization codes
    refresh_seconds: int = 30 * 24 * 3600  # offline_access refresh tokens
    online_seconds: int = 12 * 3600  # online_access refresh tokens (and login sessions)
    request_seconds: int = 30 * 60  # an authorization request waiting for login and consent
    launch_seconds: int = 60 * 60  # an EHR launch id
    assertion_max_seconds: int = 300  # a client assertion may not expire later than this from now
    admin_token: str | None = None  # FHIR_AUTH_ADMIN_TOKEN: dynamic registration and the launch endpoint

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        return cls(
            access_seconds=_seconds("FHIR_AUTH_TOKEN_SECONDS", 3600),
            admin_token=settings.auth_admin_token,
        )
