"""SMART App Launch 2.x authorization server settings: token lifetimes, accounts, MFA, abuse limits,
mail and OpenID Connect sign-in providers.

Read from the environment once (``FHIR_AUTH_*``, ``FHIR_SMTP_*``, ``FHIR_OIDC_*``); the server's
``Settings`` carry the switches that the CLI also sets (``auth_enabled``, ``auth_admin_token``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from fhir_server.config import Settings

GOOGLE_ISSUER = "https://accounts.google.com"
ROLES = ("patient", "practitioner", "admin")


def _seconds(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get(name)
    return int(raw) if raw and raw.isdigit() else default


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    return default if not raw else raw in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class OidcProvider:
    """An OpenID Connect provider for "Sign in with …" (Google by default values)."""

    key: str  # short name used in URLs: google
    name: str  # shown on the button: Google
    client_id: str
    client_secret: str
    issuer: str = GOOGLE_ISSUER
    discovery_url: str = ""  # default: issuer + /.well-known/openid-configuration
    scope: str = "openid email profile"
    create_patients: bool = False  # an unknown verified email gets a new patient account

    @property
    def discovery(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def issuers(self) -> tuple[str, ...]:
        """Accepted ``iss`` values: Google's ID tokens may carry the issuer without its scheme."""
        if self.issuer == GOOGLE_ISSUER:
            return (GOOGLE_ISSUER, "accounts.google.com")
        return (self.issuer,)


def oidc_providers(env: Mapping[str, str]) -> tuple[OidcProvider, ...]:
    """FHIR_OIDC_PROVIDERS=google,… and per provider FHIR_OIDC_<KEY>_CLIENT_ID, _CLIENT_SECRET, _ISSUER,
    _DISCOVERY_URL, _NAME, _SCOPE, _CREATE_PATIENTS."""
    out = []
    for key in (k.strip().lower() for k in (env.get("FHIR_OIDC_PROVIDERS") or "").split(",")):
        if not key:
            continue
        p = f"FHIR_OIDC_{key.upper()}_"
        client_id = env.get(p + "CLIENT_ID")
        if not client_id:
            continue
        out.append(OidcProvider(
            key, env.get(p + "NAME") or ("Google" if key == "google" else key.title()), client_id,
            env.get(p + "CLIENT_SECRET", ""), env.get(p + "ISSUER") or GOOGLE_ISSUER, env.get(p + "DISCOVERY_URL", ""),
            env.get(p + "SCOPE") or "openid email profile", _flag(env, p + "CREATE_PATIENTS", False)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = "localhost"  # FHIR_SMTP_HOST
    port: int = 587  # FHIR_SMTP_PORT
    username: str | None = None  # FHIR_SMTP_USER
    password: str | None = None  # FHIR_SMTP_PASSWORD
    sender: str = "no-reply@localhost"  # FHIR_SMTP_FROM
    starttls: bool = True  # FHIR_SMTP_STARTTLS (upgrade a plain connection; off for a local relay)
    ssl: bool = False  # FHIR_SMTP_SSL (implicit TLS, usually port 465)
    timeout: float = 20.0


@dataclass(frozen=True, slots=True)
class AuthConfig:
    access_seconds: int = 3600  # FHIR_AUTH_TOKEN_SECONDS: access tokens (JWT) live this long
    code_seconds: int = 120  # authorization codes
    refresh_seconds: int = 30 * 24 * 3600  # offline_access refresh tokens
    online_seconds: int = 12 * 3600  # online_access refresh tokens (and login sessions)
    request_seconds: int = 30 * 60  # an authorization request waiting for login and consent
    launch_seconds: int = 60 * 60  # an EHR launch id
    assertion_max_seconds: int = 300  # a client assertion may not expire later than this from now
    admin_token: str | None = None  # FHIR_AUTH_ADMIN_TOKEN: dynamic registration, launch and account admin API
    # Accounts
    patient_signup: bool = False  # FHIR_AUTH_PATIENT_SIGNUP: patients may create their own account
    mfa_roles: tuple[str, ...] = ("admin",)  # FHIR_AUTH_MFA_ROLES: roles that must use TOTP (comma-separated)
    cookie_secure: bool = True  # FHIR_AUTH_COOKIE_SECURE=0 only for plain-HTTP development
    verify_seconds: int = 48 * 3600  # an email verification link
    reset_seconds: int = 3600  # a password reset link
    invite_seconds: int = 7 * 24 * 3600  # the set-your-password link of an account made by an admin
    step_seconds: int = 600  # between the password and the second factor
    # Abuse protection
    lockout_attempts: int = 5  # FHIR_AUTH_LOCKOUT_ATTEMPTS: failed sign-ins before an account pauses
    lockout_seconds: int = 900  # FHIR_AUTH_LOCKOUT_SECONDS: the cool-down
    rate_window: int = 60  # FHIR_AUTH_RATE_WINDOW: seconds per rate-limit window
    rate_login: int = 30  # FHIR_AUTH_RATE_LOGIN: sign-in form posts per address and window
    rate_token: int = 120  # FHIR_AUTH_RATE_TOKEN: token requests per address and window
    rate_register: int = 20  # FHIR_AUTH_RATE_REGISTER: registrations, sign-ups, reset requests per window
    cors_origins: tuple[str, ...] = ("*",)  # FHIR_AUTH_CORS_ORIGINS: browser apps allowed to call the API
    # Mail and federated sign-in
    mail: str = "log"  # FHIR_AUTH_MAIL: log | smtp
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    oidc: tuple[OidcProvider, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> AuthConfig:
        e = os.environ if env is None else env
        wanted = e.get("FHIR_AUTH_MFA_ROLES", "admin")
        roles = tuple(r.strip() for r in wanted.split(",") if r.strip() in ROLES)
        origins = tuple(o.strip() for o in (e.get("FHIR_AUTH_CORS_ORIGINS") or "*").split(",") if o.strip())
        smtp = SmtpSettings(
            e.get("FHIR_SMTP_HOST") or "localhost", _seconds("FHIR_SMTP_PORT", 587, e), e.get("FHIR_SMTP_USER"),
            e.get("FHIR_SMTP_PASSWORD"), e.get("FHIR_SMTP_FROM") or "no-reply@localhost",
            _flag(e, "FHIR_SMTP_STARTTLS", True), _flag(e, "FHIR_SMTP_SSL", False))
        return cls(
            access_seconds=_seconds("FHIR_AUTH_TOKEN_SECONDS", 3600, e),
            admin_token=settings.auth_admin_token,
            patient_signup=_flag(e, "FHIR_AUTH_PATIENT_SIGNUP", False),
            mfa_roles=roles,
            cookie_secure=_flag(e, "FHIR_AUTH_COOKIE_SECURE", True),
            lockout_attempts=_seconds("FHIR_AUTH_LOCKOUT_ATTEMPTS", 5, e),
            lockout_seconds=_seconds("FHIR_AUTH_LOCKOUT_SECONDS", 900, e),
            rate_window=_seconds("FHIR_AUTH_RATE_WINDOW", 60, e),
            rate_login=_seconds("FHIR_AUTH_RATE_LOGIN", 30, e),
            rate_token=_seconds("FHIR_AUTH_RATE_TOKEN", 120, e),
            rate_register=_seconds("FHIR_AUTH_RATE_REGISTER", 20, e),
            cors_origins=origins or ("*",),
            mail=(e.get("FHIR_AUTH_MAIL") or "log").lower(),
            smtp=smtp,
            oidc=oidc_providers(e),
        )
