"""Request ids (X-Request-ID honoured when sane, generated otherwise, echoed) and the access log: one JSON (or
text) line per request with its id, method, path, FHIR interaction, status and duration; off by default."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from fhir_server.observability import logs
from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, patient


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(logs.RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def access_records() -> Iterator[Records]:
    handler = Records()
    logs.ACCESS.addHandler(handler)
    yield handler
    logs.ACCESS.removeHandler(handler)


def test_a_sent_request_id_is_echoed_and_a_missing_one_made_up(client: httpx.Client) -> None:
    sent = client.get("/metadata", headers={"X-Request-ID": "trace-me.42"})
    assert sent.headers["x-request-id"] == "trace-me.42"
    made = client.get("/metadata").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/metadata").headers["x-request-id"] != made
    for junk in ("x" * 129, "two words", "new\u00e9line"):
        echoed = client.get("/metadata", headers=[(b"X-Request-ID", junk.encode("utf-8"))]).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), junk
    for resp in (client.get("/NotAType/1"), client.post("/metadata"), client.get("/Patient", params={"bogus": "1"})):
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["x-request-id"]), resp.status_code


def test_no_access_log_by_default(client: httpx.Client, access_records: Records) -> None:
    assert client.get("/metadata").status_code == 200
    assert access_records.records == []


def test_one_access_line_per_request_with_its_request_id(pg_admin_url: str, access_records: Records) -> None:
    server = LiveServer(Database(pg_admin_url), access_log=True).start()
    try:
        with server.client() as client:
            created = client.post("/Patient", json=patient(), headers={**FHIR_JSON, "X-Request-ID": "req-create-1"})
            assert created.status_code == 201
            read = client.get(f"/Patient/{created.json()['id']}")
            assert client.get("/healthz").status_code == 200  # probes are not access-logged
    finally:
        server.stop()
    assert [r.request_id for r in access_records.records] == [  # type: ignore[attr-defined]
        "req-create-1", read.headers["x-request-id"]]
    line = json.loads(logs.JsonFormatter().format(access_records.records[1]))
    assert line["request_id"] == read.headers["x-request-id"]
    assert line["method"] == "GET" and line["path"] == f"/Patient/{created.json()['id']}"
    assert line["interaction"] == "read" and line["type"] == "Patient" and line["status"] == 200
    assert line["duration_ms"] > 0 and line["level"] == "INFO" and line["logger"] == "fhir_server.access"
    text = logs.TextFormatter().format(access_records.records[0])
    assert "[req-create-1] POST /Patient 201" in text and "interaction=create" in text and "type=Patient" in text


def test_records_logged_inside_a_request_carry_its_id() -> None:
    token = logs.REQUEST_ID.set("inner-1")
    try:
        record = logging.LogRecord("fhir_server.x", logging.ERROR, __file__, 1, "boom %s", ("here",), None)
        logs.RequestIdFilter().filter(record)
    finally:
        logs.REQUEST_ID.reset(token)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["request_id"] == "inner-1" and entry["message"] == "boom here" and entry["level"] == "ERROR"
    assert logs.current_request_id() is None


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError):
        logs.formatter("xml")


def test_the_command_refuses_an_unknown_log_format() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "FHIR_LOG_FORMAT": "xml"}
    result = subprocess.run([sys.executable, "-m", "fhir_server.cli", "--help"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 2 and "json or text" in result.stderr
