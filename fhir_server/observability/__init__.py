"""Operating the server (Prometheus exposition, OpenTelemetry, OpenAPI 3.0.3, health probes): seeing what it does.

``install(app, settings)`` puts the observability middleware around the whole app:

- ``/metrics`` — Prometheus text: requests by FHIR interaction, type, operation and status; latency
  histograms; database pool usage; outbox backlog and lag (``metrics``);
- ``/healthz`` (alive) and ``/readyz`` (database reachable, migrations applied) (``health``);
- a request id per request (``X-Request-ID`` honoured or generated, echoed), in every log record;
  JSON or text logs, one access line per request when the access log is on (``logs``);
- OpenTelemetry spans per request when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``tracing``);
- ``/openapi.json``, generated from the CapabilityStatement (``openapi``).

These four paths are public (no token), like ``/metadata``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir_server.config import Settings

if TYPE_CHECKING:
    from fhir_server.observability.middleware import Observability

PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json")


def install(app: Any, settings: Settings) -> Observability:
    """Wrap ``app`` (a FastAPI/Starlette app) in the observability middleware, outermost of all its layers."""
    from starlette.types import ASGIApp

    from fhir_server.observability import logs
    from fhir_server.observability.middleware import Observability, ObservabilityMiddleware

    state = Observability(settings.access_log, settings.otel_endpoint, settings.metrics_token)
    app.state.observability = state
    if settings.access_log:
        logs.enable_access_log()
    build = app.build_middleware_stack

    def build_with_observability() -> ASGIApp:
        return ObservabilityMiddleware(build(), state)

    app.build_middleware_stack = build_with_observability
    return state
