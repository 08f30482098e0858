"""create, read, vread (R4 http.html#create, #read, #vread) through the real HTTP app."""

from __future__ import annotations

import re

import httpx

from tests.helpers import FHIR_JSON, assert_outcome, patient

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def test_create_returns_201_location_etag_and_last_modified(client: httpx.Client, live) -> None:
    resp = client.post("/Patient", json=patient("Created"), headers=FHIR_JSON)
    assert resp.status_code == 201
    body = resp.json()
    new_id = body["id"]
    assert resp.headers["Location"] == f"{live.base}/Patient/{new_id}/_history/1"
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Last-Modified"].endswith("GMT")
    assert body["meta"]["versionId"] == "1"
    assert INSTANT.fullmatch(body["meta"]["lastUpdated"])
    assert body["name"][0]["family"] == "Created"
    assert resp.headers["content-type"].startswith("application/fhir+json")


def test_create_ignores_a_client_supplied_id(client: httpx.Client) -> None:
    resp = client.post("/Patient", json=patient(id="client-chosen"), headers=FHIR_JSON)
    assert resp.status_code == 201
    assert resp.json()["id"] != "client-chosen"


def test_create_keeps_tags_and_profiles_in_meta(client: httpx.Client) -> None:
    meta = {"tag": [{"system": "urn:t", "code": "x"}], "versionId": "99"}
    resp = client.post("/Patient", json=patient(meta=meta), headers=FHIR_JSON)
    assert resp.status_code == 201
    assert resp.json()["meta"]["tag"] == [{"system": "urn:t", "code": "x"}]
    assert resp.json()["meta"]["versionId"] == "1"


def test_prefer_return_minimal_and_operation_outcome(client: httpx.Client) -> None:
    minimal = client.post("/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "/Patient/" in minimal.headers["Location"]
    oo = client.post("/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"})
    assert oo.status_code == 201
    assert oo.json()["resourceType"] == "OperationOutcome"


def test_read_returns_what_was_stored_with_version_headers(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient("Reader"), headers=FHIR_JSON).json()
    resp = client.get(f"/Patient/{created['id']}")
    assert resp.status_code == 200
    assert resp.json() == created
    assert resp.headers["ETag"] == 'W/"1"'
    assert "Last-Modified" in resp.headers
    assert resp.text.startswith('{"resourceType":"Patient"')


def test_read_unknown_is_404_and_unknown_type_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("/Patient/does-not-exist"), 404, "not-found")
    assert_outcome(client.get("/NotAType/1"), 404, "not-found")


def test_read_with_invalid_id_is_400(client: httpx.Client) -> None:
    assert_outcome(client.get("/Patient/" + "x" * 65), 400)


def test_if_none_match_gives_304(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()
    resp = client.get(f"/Patient/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert resp.status_code == 304
    assert client.get(f"/Patient/{created['id']}", headers={"If-None-Match": 'W/"7"'}).status_code == 200


def test_vread(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient("V1"), headers=FHIR_JSON).json()
    pid = created["id"]
    updated = {**created, "name": [{"family": "V2"}]}
    assert client.put(f"/Patient/{pid}", json=updated, headers=FHIR_JSON).status_code == 200
    v1 = client.get(f"/Patient/{pid}/_history/1")
    assert v1.status_code == 200
    assert v1.json()["name"][0]["family"] == "V1"
    assert v1.headers["ETag"] == 'W/"1"'
    assert client.get(f"/Patient/{pid}/_history/2").json()["name"][0]["family"] == "V2"
    assert_outcome(client.get(f"/Patient/{pid}/_history/3"), 404)
    assert_outcome(client.get(f"/Patient/{pid}/_history/abc"), 404)


def test_summary_and_elements_on_read(client: httpx.Client) -> None:
    res = patient("Summ", text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
                  maritalStatus={"text": "single"})
    pid = client.post("/Patient", json=res, headers=FHIR_JSON).json()["id"]
    summary = client.get(f"/Patient/{pid}", params={"_summary": "true"}).json()
    # Patient.name, gender, birthDate are summary elements; maritalStatus and text are not (R4 patient.html)
    assert summary["name"][0]["family"] == "Summ"
    assert "maritalStatus" not in summary and "text" not in summary
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    text = client.get(f"/Patient/{pid}", params={"_summary": "text"}).json()
    assert "text" in text and "name" not in text
    data = client.get(f"/Patient/{pid}", params={"_summary": "data"}).json()
    assert "text" not in data and "maritalStatus" in data
    elements = client.get(f"/Patient/{pid}", params={"_elements": "gender"}).json()
    assert elements["gender"] == "female"
    assert "name" not in elements and elements["id"] == pid
    assert_outcome(client.get(f"/Patient/{pid}", params={"_summary": "bogus"}), 400)


def test_pretty_output(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    resp = client.get(f"/Patient/{pid}", params={"_pretty": "true"})
    assert resp.text.startswith('{\n  "resourceType": "Patient"')


def test_format_negotiation(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    ok = client.get(f"/Patient/{pid}", params={"_format": "json"})
    assert ok.status_code == 200
    plain = client.get(f"/Patient/{pid}", headers={"Accept": "application/json"})
    assert plain.headers["content-type"].startswith("application/json")
    assert_outcome(client.get(f"/Patient/{pid}", params={"_format": "text/turtle"}), 406)
    assert_outcome(client.get(f"/Patient/{pid}", headers={"Accept": "application/fhir+turtle"}), 406)
    browser = client.get(f"/Patient/{pid}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 200


def test_decimal_precision_is_kept(client: httpx.Client) -> None:
    # R4 datatypes.html#decimal: the precision of a decimal is significant (1.50 is not 1.5)
    body = b'{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1.50}}'
    created = client.post("/Observation", content=body, headers=FHIR_JSON)
    assert created.status_code == 201
    assert b'"value":1.50' in created.content.replace(b" ", b"")
    read = client.get(f"/Observation/{created.json()['id']}")
    assert b'"value":1.50' in read.content.replace(b" ", b"")


def test_structural_errors_name_their_location(client: httpx.Client) -> None:
    bad = {"resourceType": "Patient", "gender": "female", "birthDate": "1970-13-01",
           "name": [{"family": "X", "givn": ["typo"]}]}
    body = assert_outcome(client.post("/Patient", json=bad, headers=FHIR_JSON), 400)
    where = {e for issue in body["issue"] for e in issue.get("expression", [])}
    assert "Patient.birthDate" in where
    assert "Patient.name[0].givn" in where


def test_required_binding_violation_is_422(client: httpx.Client) -> None:
    # Patient.gender is bound (required) to administrative-gender: male | female | other | unknown
    body = assert_outcome(client.post("/Patient", json=patient(gender="bloke"), headers=FHIR_JSON), 422)
    assert body["issue"][0]["expression"] == ["Patient.gender"]
