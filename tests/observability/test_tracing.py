"""OpenTelemetry traces over OTLP/HTTP (OTLP specification: protobuf ExportTraceServiceRequest to /v1/traces),
sent to a fake collector on 127.0.0.1; one SERVER span per request, joined to the caller's W3C traceparent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, patient

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Collector:
    """An OTLP/HTTP receiver: records each export request (path, content type, body) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.requests.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
        """(span, its attributes, its resource's attributes) of everything received."""
        out = []
        for path, ctype, body in self.requests:
            assert path == "/v1/traces" and ctype == "application/x-protobuf"
            export = ExportTraceServiceRequest.FromString(body)
            for rs in export.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((span, {a.key: _value(a.value) for a in span.attributes}, resource))
        return out


def _value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


@pytest.fixture()
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


def test_spans_reach_the_otlp_collector(pg_admin_url: str, collector: Collector) -> None:
    server = LiveServer(Database(pg_admin_url), otel_endpoint=collector.url).start()
    try:
        with server.client() as client:
            pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
            traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
            read = client.get(f"/Patient/{pid}", headers={"traceparent": traceparent, "X-Request-ID": "span-read"})
            assert read.status_code == 200
            assert client.get("/NoSuchType/1").status_code == 404
    finally:
        server.stop()  # shutting down flushes the batch of spans
    spans = collector.spans()
    by_path = {(span.name, attrs["url.path"]): (span, attrs, resource) for span, attrs, resource in spans}
    span, attrs, resource = by_path["GET /{type}/{id}", f"/Patient/{pid}"]
    assert resource["service.name"] == "fhir-server"
    assert span.kind == span.SPAN_KIND_SERVER
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == PARENT_ID
    assert attrs["http.request.method"] == "GET" and attrs["http.route"] == "/{type}/{id}"
    assert attrs["http.response.status_code"] == 200 and attrs["url.path"] == f"/Patient/{pid}"
    assert attrs["fhir.interaction"] == "read" and attrs["fhir.resource_type"] == "Patient"
    assert attrs["fhir.request_id"] == "span-read"
    created = by_path["POST /{type}", "/Patient"][1]
    assert created["fhir.interaction"] == "create" and created["http.response.status_code"] == 201
    unknown = by_path["GET /{type}/{id}", "/NoSuchType/1"][1]
    assert unknown["http.response.status_code"] == 404 and unknown["fhir.resource_type"] == "unknown"


def test_no_endpoint_no_tracing(live: LiveServer, client: httpx.Client) -> None:
    assert live.settings.otel_endpoint is None
    assert live.app.state.observability.tracing is None
    assert client.get("/metadata").status_code == 200


def test_a_malformed_traceparent_starts_a_new_trace(pg_admin_url: str, collector: Collector) -> None:
    server = LiveServer(Database(pg_admin_url), otel_endpoint=collector.url).start()
    try:
        with server.client() as client:
            for junk in ("00-zz-yy-01", "ff-" + "0" * 32 + "-" + "0" * 16 + "-01", "x" * 2000):
                assert client.get("/metadata", headers={"traceparent": junk}).status_code == 200
    finally:
        server.stop()
    spans = [span for span, attrs, _ in collector.spans() if attrs["url.path"] == "/metadata"]
    assert len(spans) == 3 and all(not span.parent_span_id for span in spans)
