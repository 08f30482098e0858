"""The observability layer around the app (ASGI 3.0 HTTP and lifespan): request ids, metrics, access log, spans.

A raw ASGI middleware, outside every other layer (even Starlette's error middleware, so that a 500
is counted and carries its request id too). Per request it: takes the client's ``X-Request-ID``
(when it is a sane token) or makes one, exposes it to logging and echoes it in the response;
after the response, labels the request from the route the router matched and counts it; writes
the access line when the access log is on; ends the request's span when tracing is on. It also
answers ``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.json`` itself, before
authorization, auditing and routing (probes and scrapes carry no SMART token and no health data).
``/metrics`` is public unless ``FHIR_METRICS_TOKEN`` is set: then a scrape must present it as a
Bearer token (Prometheus ``authorization: {credentials: …}``), compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable
from random import getrandbits
from time import perf_counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server import operations
from fhir_server.errors import operation_outcome
from fhir_server.fhir.json import dumps
from fhir_server.interactions.capabilities import capability_statement
from fhir_server.observability import health, logs, metrics
from fhir_server.observability.labels import labels, templates
from fhir_server.observability.openapi import OpenApiCache
from fhir_server.observability.tracing import Tracing
from fhir_server.rest.respond import base_url

REQUEST_ID_HEADER = b"x-request-id"
VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+=/@-]{1,128}")
OUTCOME_MEDIA = "application/fhir+json; charset=utf-8"
Endpoint = Callable[[Scope], Awaitable[Response]]


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's ``X-Request-ID`` when it is a plain token of at most 128 characters, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if VALID_REQUEST_ID.fullmatch(value):
                return value
            break
    return b"%032x" % getrandbits(128)  # unique enough for correlation, and no system call


class Observability:
    """What the middleware of one app needs: its settings, tracer, metrics publisher and OpenAPI cache."""

    def __init__(self, access_log: bool, otel_endpoint: str | None, metrics_token: str | None = None) -> None:
        self.access_log = access_log
        self.metrics_token = metrics_token.encode() if metrics_token else None
        self.tracing = Tracing(otel_endpoint) if otel_endpoint else None
        self.publisher: metrics.PoolPublisher | None = None
        self.openapi = OpenApiCache()
        self.templates: dict[Any, str] = {}
        self.endpoints: dict[str, tuple[tuple[str, ...], Endpoint]] = {
            "/healthz": (("GET", "HEAD"), self.healthz),
            "/readyz": (("GET", "HEAD"), self.readyz),
            "/metrics": (("GET", "HEAD"), self.metrics),
            "/openapi.json": (("GET", "HEAD"), self.openapi_json),
        }

    async def healthz(self, scope: Scope) -> Response:
        status, body = health.alive()
        return Response(dumps(body), status, media_type=health.HEALTH_MEDIA)

    async def readyz(self, scope: Scope) -> Response:
        status, body = await health.ready(getattr(scope["app"].state, "server", None))
        media = health.HEALTH_MEDIA if status == 200 else OUTCOME_MEDIA
        return Response(dumps(body), status, media_type=media, headers={"Cache-Control": "no-store"})

    async def metrics(self, scope: Scope) -> Response:
        if self.metrics_token is not None:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, credentials = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self.metrics_token):
                issue = {"severity": "error", "code": "login",
                         "diagnostics": "/metrics needs the metrics token (FHIR_METRICS_TOKEN) as a Bearer token"}
                return Response(dumps(operation_outcome([issue])), 401, media_type=OUTCOME_MEDIA,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return Response(await metrics.exposition(self.publisher), 200, media_type=metrics.CONTENT_TYPE)

    async def openapi_json(self, scope: Scope) -> Response:
        state = scope["app"].state
        registry = getattr(getattr(state, "server", None), "registry", None)
        n_operations, base = len(operations.registered()), base_url(Request(scope))
        body = self.openapi.cached(registry, n_operations, base)
        if body is None:  # a few hundred milliseconds of building: off the event loop
            body = await asyncio.to_thread(self.openapi.render, registry, n_operations, base, capability_statement,
                                           getattr(state, "auth", None) is not None, self.metrics_token is not None)
        return Response(body, 200, media_type="application/json")

    def started(self, app: Any) -> None:
        self.templates = templates(app.router.routes)
        server = getattr(app.state, "server", None)
        if server is not None:
            self.publisher = metrics.PoolPublisher(server.pool, getattr(server, "read_pool", None))
            self.publisher.start()

    async def stopped(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)
        metrics.process_stopped()


def _not_allowed(path: str, methods: tuple[str, ...]) -> Response:
    issue = {"severity": "error", "code": "not-supported", "diagnostics": f"{path} answers {' and '.join(methods)}"}
    return Response(dumps(operation_outcome([issue])), 405, headers={"Allow": ", ".join(methods)},
                    media_type=OUTCOME_MEDIA)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, state: Observability) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics.metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        own = self.state.endpoints.get(path)
        if own is not None:
            methods, endpoint = own
            response = await endpoint(scope) if scope["method"] in methods else _not_allowed(path, methods)
            await response(scope, receive, send)
            return
        await self.request(scope, receive, send, path)

    async def request(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        start = perf_counter()
        rid = request_id(scope["headers"])
        rid_text = rid.decode("ascii")
        token = logs.REQUEST_ID.set(rid_text)
        tracing = self.state.tracing
        span = tracing.start(scope, rid_text) if tracing is not None else None
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self.answered(scope, path, status or 500, perf_counter() - start, span)  # 0: failed unanswered
            finally:
                logs.REQUEST_ID.reset(token)

    def answered(self, scope: Scope, path: str, status: int, seconds: float, span: Any) -> None:
        """Count the request, write its access line, end its span."""
        found = labels(scope)
        self.metrics.observe(found, status, seconds)
        if self.state.access_log:
            fields: dict[str, Any] = {"interaction": found.interaction, "type": found.type,
                                      "operation": found.operation}
            if span is not None:
                fields["trace_id"] = Tracing.trace_id(span)
            logs.access(scope["method"], path, status, seconds, fields)
        if span is not None and self.state.tracing is not None:
            self.state.tracing.finish(span, scope, self.state.templates.get(scope.get("endpoint")), found, status)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the pool-metrics publisher once the app has started; flush spans when it stops."""

        async def watch(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.state.started(scope["app"])
            elif message["type"] == "lifespan.shutdown.complete":
                await self.state.stopped()
            await send(message)

        await self.app(scope, receive, watch)
