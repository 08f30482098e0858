"""The authorization server's HTTP endpoints (SMART App Launch 2.x, RFC 6749, 7009, 7591, 7662).

``routes()`` lists them all for the app: discovery and keys, authorize (with the login, patient
picker and consent pages), token, introspection, revocation, registration and the EHR launch.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from smart_auth.endpoints import admin, authorize, discovery, pages, revoke, token


def routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/smart-configuration", discovery.smart_configuration, methods=["GET"]),
        Route("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
        Route("/auth/jwks", discovery.jwks, methods=["GET"]),
        Route("/auth/smart-style.json", discovery.smart_style, methods=["GET"]),
        Route("/auth/authorize", authorize.authorize, methods=["GET", "POST"]),
        Route("/auth/login", pages.login, methods=["POST"]),
        Route("/auth/select", pages.select, methods=["GET", "POST"]),
        Route("/auth/consent", pages.consent, methods=["POST"]),
        Route("/auth/token", token.token, methods=["POST"]),
        Route("/auth/introspect", revoke.introspect, methods=["POST"]),
        Route("/auth/revoke", revoke.revoke, methods=["POST"]),
        Route("/auth/register", admin.register, methods=["POST"]),
        Route("/auth/launch", admin.launch, methods=["POST"]),
    ]
