"""NDJSON ``$import`` (FHIR asynchronous pattern, http://hl7.org/fhir/R4/async.html): uploaded or fetched by URL,
every line validated, indexed and written like a PUT, failures reported one OperationOutcome per line; then
the imported data is found by search exactly as the raw bundles say it should be."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.conftest import Database, LiveServer
from tests.extensions.bulk.conftest import Bulk, patient_bundles, stored_form, without_server_meta
from tests.fixtures.serve import free_port
from tests.helpers import FHIR_JSON, assert_outcome

Json = dict[str, Any]
NDJSON = {"Content-Type": "application/fhir+ndjson", "Prefer": "respond-async", "Accept": "application/fhir+json"}
BAD_LINES = [
    b"not json at all",
    b'{"resourceType": "Patient", "gender": 5}',
    b'{"resourceType": "NoSuchType", "id": "x"}',
    b'{"resourceType": "Observation", "status": "final"}',
    b'{"resourceType": "Patient", "id": "bad id!"}',
    b"[1, 2]",
    b'{"resourceType": "Patient", "unknownElement": true}',
    b'{"resourceType": "Patient", "id": 7}',
]


@pytest.fixture(scope="module")
def importer(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), bulk_workers=2).start()
    yield server
    server.stop()


@pytest.fixture()
def bulk(importer: LiveServer) -> Iterator[Bulk]:
    with importer.client() as c:
        yield Bulk(c)


def _lines(bundles: list[Json]) -> list[bytes]:
    return [orjson.dumps(r) for b in bundles for r in stored_form(b)]


def _upload(bulk: Bulk, body: bytes, params: Any = None) -> Json:
    resp = bulk.client.post("/$import", content=body, params=params, headers=NDJSON)
    assert resp.status_code == 202, resp.text
    return bulk.manifest(resp.headers["content-location"])


def _failed_lines(bulk: Bulk, manifest: Json) -> dict[int, Json]:
    out: dict[int, Json] = {}
    for entry in manifest["error"]:
        for outcome in bulk.lines(entry["url"]):
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"] and all(i["severity"] == "error" for i in outcome["issue"])
            m = re.search(r"line (\d+)", outcome["issue"][0]["diagnostics"])
            assert m, outcome
            out[int(m.group(1))] = outcome
    return out


def _count(bulk: Bulk, path: str, **params: str) -> int:
    resp = bulk.client.get(path, params={**params, "_summary": "count"}, headers=bulk.headers)
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def test_upload_then_search(bulk: Bulk) -> None:
    bundles = patient_bundles()[10:13]
    good = _lines(bundles)
    body: list[bytes] = []
    bad_at: set[int] = set()
    for i, line in enumerate(good):
        if i % 97 == 5 and len(bad_at) < len(BAD_LINES):
            body.append(BAD_LINES[len(bad_at)])
            bad_at.add(len(body))
        if i == 300:
            body.append(b"   ")  # blank lines are skipped, not errors
        body.append(line)
    for bad in BAD_LINES[len(bad_at):]:
        body.append(bad)
        bad_at.add(len(body))
    manifest = _upload(bulk, b"\n".join(body) + b"\n")

    assert manifest["requiresAccessToken"] is False and manifest["request"].endswith("/$import")
    assert set(_failed_lines(bulk, manifest)) == bad_at
    summary = [o for e in manifest["output"] for o in bulk.lines(e["url"])]
    assert len(summary) == 1 and f"{len(good)} resources imported, {len(BAD_LINES)} failed" in \
        summary[0]["issue"][0]["diagnostics"]
    assert manifest["extension"] == {"urn:fhir-server:bulk:imported": len(good),
                                     "urn:fhir-server:bulk:failed": len(BAD_LINES)}

    for bundle in bundles:
        resources = stored_form(bundle)
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        pid = patient["id"]
        for res_type in ("Observation", "Encounter", "Immunization", "Condition", "Claim"):
            n = sum(1 for r in resources if r["resourceType"] == res_type)
            assert _count(bulk, f"/{res_type}", patient=pid) == n, res_type
        found = bulk.client.get("/Patient", params={"family": patient["name"][0]["family"]}, headers=bulk.headers)
        assert pid in {e["resource"]["id"] for e in found.json().get("entry", [])}
        first_obs = next(r for r in resources if r["resourceType"] == "Observation")
        code = first_obs["code"]["coding"][0]
        same_code = sum(1 for r in resources if r["resourceType"] == "Observation" and any(
            c.get("system") == code["system"] and c.get("code") == code["code"] for c in r["code"]["coding"]))
        assert _count(bulk, "/Observation", patient=pid, code=f"{code['system']}|{code['code']}") == same_code
        read = bulk.client.get(f"/Observation/{first_obs['id']}", headers=bulk.headers).json()
        assert without_server_meta(read) == first_obs and read["meta"]["versionId"] == "1"


def test_repeated_and_existing_ids_become_versions(bulk: Bulk) -> None:
    existing = {"resourceType": "Patient", "id": "import-existing", "name": [{"family": "Before"}]}
    assert bulk.client.put("/Patient/import-existing", json=existing, headers=FHIR_JSON).status_code == 201
    lines = [{"resourceType": "Patient", "id": "import-twice", "name": [{"family": "First"}]},
             {"resourceType": "Patient", "id": "import-existing", "name": [{"family": "After"}]},
             {"resourceType": "Patient", "id": "import-twice", "name": [{"family": "Second"}]},
             {"resourceType": "Patient", "name": [{"family": "ImportNoId"}]}]
    manifest = _upload(bulk, b"\n".join(orjson.dumps(r) for r in lines))
    assert manifest["error"] == []
    twice = bulk.client.get("/Patient/import-twice", headers=bulk.headers).json()
    assert (twice["meta"]["versionId"], twice["name"][0]["family"]) == ("2", "Second")
    history = bulk.client.get("/Patient/import-twice/_history", headers=bulk.headers).json()
    assert [e["resource"]["name"][0]["family"] for e in history["entry"]] == ["Second", "First"]
    after = bulk.client.get("/Patient/import-existing", headers=bulk.headers).json()
    assert (after["meta"]["versionId"], after["name"][0]["family"]) == ("2", "After")
    assert _count(bulk, "/Patient", family="ImportNoId") == 1


class Files:
    """A small static HTTP server for input URLs."""

    def __init__(self, files: dict[str, bytes]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/fhir+ndjson")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def _input(url: str, res_type: str | None = None) -> Json:
    parts: list[Json] = [{"name": "url", "valueUri": url}]
    if res_type:
        parts.append({"name": "type", "valueCode": res_type})
    return {"name": "input", "part": parts}


def test_import_by_url(bulk: Bulk) -> None:
    bundle = patient_bundles()[20]
    resources = stored_form(bundle)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    files = Files({"/all.ndjson": b"\n".join(orjson.dumps(r) for r in resources),
                   "/patients.ndjson": orjson.dumps(patients[0]) + b"\n" + orjson.dumps(resources[-1])})
    try:
        body = {"resourceType": "Parameters", "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            {"name": "inputSource", "valueUri": files.base},
            _input(f"{files.base}/all.ndjson"), _input(f"{files.base}/missing.ndjson"),
            _input(f"{files.base}/patients.ndjson", "Patient")]}
        resp = bulk.client.post("/$import", json=body, headers={**NDJSON, **FHIR_JSON})
        assert resp.status_code == 202, resp.text
        manifest = bulk.manifest(resp.headers["content-location"])
    finally:
        files.close()
    errors = [o["issue"][0]["diagnostics"] for e in manifest["error"] for o in bulk.lines(e["url"])]
    assert len(errors) == 2
    assert any("missing.ndjson" in d and "404" in d for d in errors)
    assert any("patients.ndjson, line 2" in d and "Patient" in d for d in errors)
    pid = patients[0]["id"]
    assert _count(bulk, "/Observation", patient=pid) == sum(1 for r in resources if r["resourceType"] == "Observation")


@pytest.mark.parametrize("body", [
    {"resourceType": "Parameters", "parameter": []},
    {"resourceType": "Parameters", "parameter": [_input("ftp://example.org/a.ndjson")]},
    {"resourceType": "Parameters", "parameter": [_input("http://127.0.0.1:9/a.ndjson", "NoSuchType")]},
    {"resourceType": "Parameters", "parameter": [{"name": "inputFormat", "valueCode": "text/csv"},
                                                 _input("http://127.0.0.1:9/a.ndjson")]},
    {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "x"},
                                                 _input("http://127.0.0.1:9/a.ndjson")]},
    {"resourceType": "Patient"},
])
def test_kick_off_errors(bulk: Bulk, body: Json) -> None:
    assert_outcome(bulk.client.post("/$import", json=body, headers={**NDJSON, **FHIR_JSON}), 400)


def test_upload_errors(bulk: Bulk) -> None:
    assert_outcome(bulk.client.post("/$import", content=b"", headers=NDJSON), 400)
    assert_outcome(bulk.client.post("/$import", content=b"{}", params={"type": "NoSuchType"}, headers=NDJSON), 400)
    assert_outcome(bulk.client.get("/$import", headers=NDJSON), 405)


def test_a_line_postgresql_refuses_is_reported_and_the_others_written(bulk: Bulk) -> None:
    """JSONB cannot hold \\u0000, and FHIR strings must not (datatypes.html#string): the line is refused
    when it is read, naming the element, and the other lines are written."""
    body = b"\n".join([b'{"resourceType": "Patient", "id": "nul-before", "name": [{"family": "NulCase"}]}',
                       b'{"resourceType": "Patient", "id": "nul-line", "name": [{"family": "a\\u0000b"}]}',
                       b'{"resourceType": "Patient", "id": "nul-after", "name": [{"family": "NulCase"}]}'])
    manifest = _upload(bulk, body)
    failed = _failed_lines(bulk, manifest)
    assert list(failed) == [2] and "Patient.name[0].family" in failed[2]["issue"][0]["diagnostics"]
    assert _count(bulk, "/Patient", family="NulCase") == 2
    assert bulk.client.get("/Patient/nul-line", headers=bulk.headers).status_code == 404
