"""Every error a client sees is an OperationOutcome with the right status (R4 http.html#Status-Codes)."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient


def test_malformed_json_is_400(client: httpx.Client) -> None:
    body = assert_outcome(client.post("/Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON), 400)
    assert "not valid JSON" in body["issue"][0]["diagnostics"]


def test_empty_and_non_object_bodies_are_400(client: httpx.Client) -> None:
    assert_outcome(client.post("/Patient", content=b"", headers=FHIR_JSON), 400)
    assert_outcome(client.post("/Patient", content=b"[1, 2]", headers=FHIR_JSON), 400)
    assert_outcome(client.post("/Patient", content=b'"Patient"', headers=FHIR_JSON), 400)


def test_resource_type_mismatch_and_missing_are_400(client: httpx.Client) -> None:
    assert_outcome(client.post("/Patient", json={"resourceType": "Observation"}, headers=FHIR_JSON), 400)
    assert_outcome(client.post("/Patient", json={"name": [{"family": "x"}]}, headers=FHIR_JSON), 400)


def test_unsupported_content_types_are_415(client: httpx.Client) -> None:
    turtle = b"[ a fhir:Patient ]"
    assert_outcome(client.post("/Patient", content=turtle, headers={"Content-Type": "text/turtle"}), 415)
    assert_outcome(client.post("/Patient", content=b"{}", headers={"Content-Type": "text/plain"}), 415)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_outcome(client.post("/Patient", content=b"a=b", headers=form), 415)


def test_unknown_type_and_unknown_route_are_404(client: httpx.Client) -> None:
    assert_outcome(client.post("/Frobnicator", json={"resourceType": "Frobnicator"}, headers=FHIR_JSON), 404)
    assert_outcome(client.get("/Patient/1/_history/1/extra/parts"), 404)


def test_method_not_allowed_is_405(client: httpx.Client) -> None:
    assert_outcome(client.post("/Patient/123", json=patient(), headers=FHIR_JSON), 405)
    assert_outcome(client.delete("/metadata"), 405)
    # a conditional update/delete without any search parameter is not a conditional interaction
    assert_outcome(client.put("/Patient", json=patient(), headers=FHIR_JSON), 405)
    assert_outcome(client.delete("/Patient"), 405)


def test_deeply_nested_json_is_400_not_500(client: httpx.Client) -> None:
    deep: dict = {"url": "urn:x", "valueString": "leaf"}
    for _ in range(3000):
        deep = {"url": "urn:x", "extension": [deep]}
    import orjson

    try:
        body = orjson.dumps({"resourceType": "Patient", "extension": [deep]})
    except orjson.JSONEncodeError:  # orjson refuses to build it: hand-write it instead
        body = b'{"resourceType":"Patient","extension":[' + b'{"url":"urn:x","extension":[' * 3000
        body += b'{"url":"urn:x","valueString":"leaf"}' + b"]}" * 3000 + b"]}"
    resp = client.post("/Patient", content=body, headers=FHIR_JSON)
    assert_outcome(resp, 400)


def test_moderately_deep_json_is_400_not_500(client: httpx.Client) -> None:
    # 300 levels: within what the JSON parser accepts, beyond the server's nesting limit (100)
    body = b'{"resourceType":"Patient","extension":[' + b'{"url":"urn:x","extension":[' * 150
    body += b'{"url":"urn:x","valueString":"leaf"}' + b"]}" * 150 + b"]}"
    assert_outcome(client.post("/Patient", content=body, headers=FHIR_JSON), 400)


def test_body_over_the_limit_is_413(pg_admin_url: str) -> None:
    server = LiveServer(Database(pg_admin_url), max_body_bytes=1000).start()
    try:
        with server.client() as c:
            big = patient(text={"status": "generated",
                                "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * 2000 + "</div>"})
            assert_outcome(c.post("/Patient", json=big, headers=FHIR_JSON), 413)
            assert c.post("/Patient", json=patient(), headers=FHIR_JSON).status_code == 201
    finally:
        server.stop()


def test_bad_if_match_header_is_400(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    resp = client.put(f"/Patient/{pid}", json=patient(id=pid), headers={**FHIR_JSON, "If-Match": "banana"})
    assert_outcome(resp, 400)


def test_invalid_prefer_return_is_400(client: httpx.Client) -> None:
    assert_outcome(client.post("/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=everything"}), 400)


def test_405_answers_carry_allow(client: httpx.Client) -> None:
    # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response"
    for resp, allow in (
        (client.put("/Patient", json=patient(), headers=FHIR_JSON), "GET, HEAD, POST"),
        (client.delete("/Patient"), "GET, HEAD, POST"),
        (client.patch("/Patient", json=[], headers={"Content-Type": "application/json-patch+json"}),
         "GET, HEAD, POST"),
        (client.post("/Patient/123", json=patient(), headers=FHIR_JSON), "GET, HEAD, PUT, DELETE, PATCH"),
        (client.post("/metadata"), "GET, HEAD"),
        (client.delete("/_history"), "GET, HEAD"),
        (client.post("/Patient/123/Observation"), "GET, HEAD"),
        (client.get("/Patient/1/$triage", params={"symptoms": "cough"}), "POST"),  # it records data
    ):
        assert_outcome(resp, 405)
        assert resp.headers.get("allow") == allow, (resp.request.method, resp.request.url)


def test_client_disconnecting_mid_body_is_quiet(live: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    import socket
    import time

    from tests.observability.prom import scrape

    def errors() -> float:
        return sum(v for (name, labels), v in scrape(live.client()).items()
                   if name == "fhir_requests_total" and ("status", "500") in labels)

    before = errors()
    with caplog.at_level(logging.ERROR):
        with socket.create_connection(("127.0.0.1", live.port)) as sock:
            sock.sendall(b"POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"resourceType\": \"Patient\", ")
            time.sleep(0.3)
        time.sleep(1.0)
        assert live.client().get("/metadata").status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert errors() == before


def test_non_utf8_charset_is_415(client: httpx.Client) -> None:
    # http.html#mime-type: FHIR resources are UTF-8 (the charset parameter, if given, must say so)
    for charset in ("latin1", "ISO-8859-1", "utf-16"):
        ctype = {"Content-Type": f"application/fhir+json; charset={charset}"}
        assert_outcome(client.post("/Patient", json=patient(), headers=ctype), 415)
    for charset in ("utf-8", "UTF-8", '"utf-8"'):
        ctype = {"Content-Type": f"application/fhir+json; charset={charset}"}
        ok = client.post("/Patient", json=patient(), headers=ctype)
        assert ok.status_code == 201, ok.text
