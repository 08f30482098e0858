"""Bearer-token enforcement in front of the FHIR API (RFC 6750 §2.1, SMART App Launch 2.x).

An ASGI middleware: every HTTP request except the public ones (``/metadata``, ``/.well-known/…``,
``/auth/…``, and ``/webhooks/…``, whose senders sign their calls) must carry a valid access token;
the request then runs with that token's ``Access`` as ``fhir_server.access.current()``, which every
interaction consults. A request without a valid token gets a 401 OperationOutcome with
``WWW-Authenticate: Bearer`` before reaching any route.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.access import acting_as
from fhir_server.errors import FhirError
from fhir_server.fhir.json import dumps

PUBLIC_EXACT = ("/metadata", "/healthz", "/readyz", "/metrics", "/openapi.json")  # + observability probes
PUBLIC_PREFIXES = ("/.well-known/", "/auth/", "/webhooks/")


def is_public(path: str) -> bool:
    return path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)


class Guard:
    def __init__(self, app: ASGIApp, auth: Any) -> None:
        self.app = app
        self.auth = auth  # smart_auth.layer.SmartAuth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if is_public(path):
            await self.app(scope, receive, send)
            return
        try:
            access = await self.auth.authenticate(Request(scope))
        except FhirError as exc:
            response = Response(dumps(exc.outcome()), exc.status, headers=exc.headers,
                                media_type="application/fhir+json; charset=utf-8")
            await response(scope, receive, send)
            return
        with acting_as(access):
            await self.app(scope, receive, send)
