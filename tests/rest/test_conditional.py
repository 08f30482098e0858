"""Conditional create, update, delete and patch (R4 http.html#ccreate, #cond-update, #cdelete, #patch)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient, unique_identifier


def _ident_query(ident: dict) -> str:
    return f"identifier={ident['system']}|{ident['value']}"


def test_conditional_create_0_1_many(client: httpx.Client) -> None:
    ident = unique_identifier()
    headers = {**FHIR_JSON, "If-None-Exist": _ident_query(ident)}
    first = client.post("/Patient", json=patient(identifier=[ident]), headers=headers)
    assert first.status_code == 201
    again = client.post("/Patient", json=patient(identifier=[ident]), headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    # a second resource with that identifier, created without condition → the condition now matches 2
    assert client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).status_code == 201
    assert_outcome(client.post("/Patient", json=patient(), headers=headers), 412)


def test_conditional_create_value_only_and_id(client: httpx.Client) -> None:
    ident = unique_identifier()
    created = client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).json()
    by_value = client.post("/Patient", json=patient(),
                           headers={**FHIR_JSON, "If-None-Exist": f"identifier={ident['value']}"})
    assert by_value.status_code == 200 and by_value.json()["id"] == created["id"]
    by_id = client.post("/Patient", json=patient(), headers={**FHIR_JSON, "If-None-Exist": f"_id={created['id']}"})
    assert by_id.status_code == 200


def test_conditional_create_unknown_parameter_is_refused(client: httpx.Client) -> None:
    resp = client.post("/Patient", json=patient(), headers={**FHIR_JSON, "If-None-Exist": "frobnicate=1"})
    assert_outcome(resp, 400)


def test_eight_concurrent_identical_conditional_creates_make_one_resource(fresh: LiveServer) -> None:
    ident = unique_identifier()
    body = json.dumps(patient(identifier=[ident]))
    headers = {**FHIR_JSON, "If-None-Exist": _ident_query(ident)}

    def post(_: int) -> httpx.Response:
        with fresh.client() as c:
            return c.post("/Patient", content=body, headers=headers)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(8)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 7 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    rows = fresh.db.execute("SELECT count(*) FROM resource WHERE res_type = 'Patient'")
    assert rows[0][0] == 1


def test_conditional_update(client: httpx.Client) -> None:
    ident = unique_identifier()
    url = f"/Patient?{_ident_query(ident)}"
    created = client.put(url, json=patient(identifier=[ident]), headers=FHIR_JSON)
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = client.put(url, json=patient(identifier=[ident], gender="male"), headers=FHIR_JSON)
    assert updated.status_code == 200
    assert updated.json()["id"] == pid and updated.json()["meta"]["versionId"] == "2"
    wrong = client.put(url, json=patient(id="some-other-id", identifier=[ident]), headers=FHIR_JSON)
    assert_outcome(wrong, 400)
    client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON)
    assert_outcome(client.put(url, json=patient(identifier=[ident]), headers=FHIR_JSON), 412)


def test_conditional_delete(client: httpx.Client) -> None:
    ident = unique_identifier()
    pid = client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).json()["id"]
    assert client.delete(f"/Patient?{_ident_query(ident)}").status_code == 204
    assert_outcome(client.get(f"/Patient/{pid}"), 410)
    assert client.delete(f"/Patient?{_ident_query(ident)}").status_code == 204  # no match: nothing to do
    other = unique_identifier()
    for _ in range(2):
        client.post("/Patient", json=patient(identifier=[other]), headers=FHIR_JSON)
    assert_outcome(client.delete(f"/Patient?{_ident_query(other)}"), 412)


def test_conditional_patch(client: httpx.Client) -> None:
    ident = unique_identifier()
    pid = client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).json()["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    resp = client.patch(f"/Patient?{_ident_query(ident)}", json=ops,
                        headers={"Content-Type": "application/json-patch+json"})
    assert resp.status_code == 200
    assert resp.json()["id"] == pid and resp.json()["gender"] == "other"
    missing = client.patch("/Patient?identifier=urn:none|none", json=ops,
                           headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(missing, 404)


def test_concurrent_transactions_get_distinct_row_ids(fresh: LiveServer) -> None:
    """Many writers at once in one process: every resource is stored (no key collision)."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}} for _ in range(40)]}
    body = json.dumps(bundle)

    def post(_: int) -> int:
        with fresh.client() as c:
            return c.post("/", content=body, headers=FHIR_JSON).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(post, range(16))) == [200] * 16
    assert fresh.db.execute("SELECT count(*) FROM resource")[0][0] == 16 * 40
