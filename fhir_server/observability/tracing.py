"""OpenTelemetry traces (OTel HTTP semantic conventions; OTLP/HTTP export), on only when an endpoint is configured.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, every HTTP request becomes one SERVER span named
``METHOD route`` (``GET /{type}/{id}``), a child of the caller's span when the request carries a
W3C ``traceparent``, with the FHIR interaction, resource type and operation as attributes.
Spans are batched and sent as OTLP protobuf over HTTP to ``<endpoint>/v1/traces`` (or to
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` as given); the exporter also reads the standard
``OTEL_EXPORTER_OTLP_HEADERS`` / ``…_TIMEOUT`` / ``…_COMPRESSION``, and the resource takes
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. Query strings are not recorded: search
parameters can carry names and birth dates.

The SDK is imported only when tracing is on, and the tracer provider belongs to the app (not the
process-global one), so an app without an endpoint pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

from fhir_server import __version__
from fhir_server.observability.labels import Labels

TRACE_HEADERS = (b"traceparent", b"tracestate")


def traces_url(endpoint: str) -> str:
    """Where spans go: the signal-specific variable as given, else ``<endpoint>/v1/traces`` (OTLP exporter spec)."""
    specific = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific:
        return specific
    return endpoint.rstrip("/") + "/v1/traces"


class Tracing:
    """The app's tracer provider, its OTLP exporter and the W3C trace-context propagator."""

    def __init__(self, endpoint: str, *, schedule_delay_ms: float | None = None) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        attributes: dict[str, Any] = {SERVICE_VERSION: __version__}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes[SERVICE_NAME] = "fhir-server"
        self.provider = TracerProvider(resource=Resource.create(attributes))
        self.exporter = OTLPSpanExporter(endpoint=traces_url(endpoint))
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, schedule_delay_millis=schedule_delay_ms))
        self.tracer = self.provider.get_tracer("fhir_server", __version__)
        self.propagator = TraceContextTextMapPropagator()
        self._server_kind = SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)

    def start(self, scope: MutableMapping[str, Any], request_id: str) -> Any:
        """The span of one request, started now."""
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in TRACE_HEADERS}
        parent = self.propagator.extract(carrier) if carrier else None
        client = scope.get("client")
        attributes: dict[str, Any] = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
            "fhir.request_id": request_id,
        }
        if client:
            attributes["client.address"] = client[0]
        return self.tracer.start_span(scope["method"], context=parent, kind=self._server_kind, attributes=attributes)

    def finish(self, span: Any, scope: MutableMapping[str, Any], route: str | None, labels: Labels,
               status: int) -> None:
        if route is not None:
            span.update_name(f"{scope['method']} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("fhir.interaction", labels.interaction)
        if labels.type:
            span.set_attribute("fhir.resource_type", labels.type)
        if labels.operation:
            span.set_attribute("fhir.operation", labels.operation)
        if status >= 500:
            span.set_status(self._error)
        span.end()

    @staticmethod
    def trace_id(span: Any) -> str:
        return f"{span.get_span_context().trace_id:032x}"

    def shutdown(self) -> None:
        """Send what is still queued, then stop (blocking: run it off the event loop)."""
        self.provider.shutdown()
