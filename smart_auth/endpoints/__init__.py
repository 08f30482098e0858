"""The authorization server's HTTP endpoints (SMART App Launch 2.x, RFC 6749, 7009, 7591, 7662; OpenID
Connect Core 1.0).

``routes()`` lists them all for the app: discovery and keys, authorize (with the login, two-step
verification, patient picker and consent pages), sign-in with OpenID Connect providers, account
pages (sign-up, email confirmation, password reset, account, sign-out), token, introspection,
revocation, registration, the EHR launch and the account administration API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smart_auth.endpoints import (
    admin,
    authorize,
    discovery,
    federated,
    pages,
    revoke,
    selfservice,
    signin,
    token,
    useradmin,
)

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def _wrong_method(allow: str) -> Callable[[Request], Awaitable[Response]]:
    """Without it a wrong method on an /auth/ URL falls through to the FHIR routes (``/{type}/{id}``)."""

    async def refuse(request: Request) -> Response:
        raise HTTPException(405, headers={"Allow": allow})

    return refuse


def _with_405(found: list[Route]) -> list[BaseRoute]:
    """Each route, then one answering its other methods with 405 and ``Allow`` (RFC 9110 §15.5.6).
    CORS preflights (OPTIONS) never get here: the CORS middleware answers them before routing."""
    out: list[BaseRoute] = []
    for route in found:
        methods = route.methods or set()
        out.append(route)
        others = [m for m in _METHODS if m not in methods]
        allow = ", ".join(m for m in _METHODS if m in methods)
        out.append(Route(route.path, _wrong_method(allow), methods=others))
    return out


def routes() -> list[BaseRoute]:
    return _with_405([
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
        Route("/auth/mfa", signin.second_factor, methods=["POST"]),
        Route("/auth/mfa/enrol", signin.enrol, methods=["POST"]),
        Route("/auth/mfa/setup", signin.setup, methods=["POST"]),
        Route("/auth/continue", signin.proceed, methods=["POST"]),
        Route("/auth/account", signin.account, methods=["GET"]),
        Route("/auth/logout", signin.logout, methods=["GET", "POST"]),
        Route("/auth/signup", selfservice.signup, methods=["GET", "POST"]),
        Route("/auth/verify", selfservice.verify, methods=["GET", "POST"]),
        Route("/auth/forgot", selfservice.forgot, methods=["GET", "POST"]),
        Route("/auth/reset", selfservice.reset, methods=["GET", "POST"]),
        Route("/auth/oidc/start", federated.start, methods=["GET"]),
        Route("/auth/oidc/callback", federated.callback, methods=["GET"]),
        Route("/auth/admin/users", useradmin.users_endpoint, methods=["GET", "POST"]),
        Route("/auth/admin/users/{username}/{action}", useradmin.user_switch, methods=["POST"]),
    ])
