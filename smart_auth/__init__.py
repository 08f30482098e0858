"""SMART App Launch 2.x authorization server and its enforcement on the FHIR API (RFC 6749, 6750, 7009,
7591, 7636, 7662, 7523; OpenID Connect Core).

``install(app, settings)`` adds to the FHIR app: the auth endpoints (``/.well-known/…``,
``/auth/…``), the bearer-token guard in front of every FHIR route, CSRF and rate limits on the auth
endpoints (``shield``), CORS for browser apps (``cors``), and ``app.state.auth`` (the ``SmartAuth``
layer, started with the server). Modules: ``scopes`` (SMART scopes), ``enforce`` and
``compartment`` (what a token may do), ``tokens`` and ``keys`` (JWTs), ``grants``, ``clients``,
``users``, ``sessions``, ``accounts``, ``onetime``, ``mfa``, ``abuse`` (state in PostgreSQL),
``mail``, ``oidc`` (sign-in with Google and other providers), ``picker``, ``wording``,
``client_auth`` (client authentication incl. ``private_key_jwt``), ``endpoints`` (HTTP), ``cli``
(``fhir-server clients|users|token|launch``).
"""

from __future__ import annotations

from typing import Any

from fhir_server.config import Settings


def install(app: Any, settings: Settings) -> None:
    """Wire the authorization server and the guard into the FastAPI ``app``."""
    from smart_auth.cors import Cors
    from smart_auth.endpoints import routes
    from smart_auth.guard import Guard
    from smart_auth.layer import SmartAuth
    from smart_auth.shield import Shield

    auth = SmartAuth(settings)
    app.state.auth = auth
    app.router.routes[:0] = routes()
    app.add_middleware(Guard, auth=auth)
    app.add_middleware(Shield, auth=auth)  # CSRF and rate limits of /auth/, outside the guard
    app.add_middleware(Cors, auth=auth)  # outermost of the three: preflights are answered before the guard
