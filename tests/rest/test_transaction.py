"""transaction and batch Bundles (R4 http.html#transaction, #trules)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient, unique_identifier


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _tx(entries: list[dict], kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _post(resource: dict, full_url: str | None = None, **request: str) -> dict:
    entry: dict = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _counts(server: LiveServer) -> tuple[int, int]:
    rows = server.db.execute("SELECT (SELECT count(*) FROM resource), (SELECT count(*) FROM resource_history)")
    return rows[0][0], rows[0][1]


def test_urn_uuid_references_are_rewritten_everywhere(client: httpx.Client) -> None:
    p_urn, enc_urn = _urn(), _urn()
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": p_urn},
        "encounter": {"reference": enc_urn},
        "performer": [{"reference": p_urn}],
        # nested deep inside a backbone element and an extension
        "component": [{"code": {"text": "c"}, "valueString": "v",
                       "extension": [{"url": "urn:ext", "valueReference": {"reference": p_urn}}]}],
        "derivedFrom": [{"reference": p_urn, "display": "keep me"}],
    }
    enc = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
           "subject": {"reference": p_urn}}
    resp = client.post("/", json=_tx([_post(obs), _post(enc, enc_urn), _post(patient(), p_urn)]), headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == ["201 Created"] * 3
    locations = [e["response"]["location"] for e in out["entry"]]
    assert locations[2].startswith("Patient/") and locations[2].endswith("/_history/1")
    pid = locations[2].split("/")[1]
    eid = locations[1].split("/")[1]
    stored = client.get("/" + locations[0].split("/_history")[0]).json()
    ref = f"Patient/{pid}"
    assert stored["subject"] == {"reference": ref}
    assert stored["encounter"] == {"reference": f"Encounter/{eid}"}
    assert stored["performer"] == [{"reference": ref}]
    assert stored["component"][0]["extension"][0]["valueReference"] == {"reference": ref}
    assert stored["derivedFrom"] == [{"reference": ref, "display": "keep me"}]
    assert client.get(f"/Encounter/{eid}").json()["subject"] == {"reference": ref}


def test_a_failing_entry_rolls_everything_back(fresh: LiveServer) -> None:
    with fresh.client() as c:
        before = _counts(fresh)
        entries = [_post(patient(), _urn()), _post(patient(), _urn()),
                   {"resource": patient(id="tx-put"), "request": {"method": "PUT", "url": "Patient/tx-put"}},
                   _post({"resourceType": "Patient", "gender": 12})]
        resp = c.post("/", json=_tx(entries), headers=FHIR_JSON)
        body = assert_outcome(resp, 400)
        assert "Bundle.entry[3]" in body["issue"][0]["diagnostics"]
        assert _counts(fresh) == before


def test_rollback_after_writes_were_flushed(fresh: LiveServer) -> None:
    """The GET entry runs after the writes reach the database; its failure still undoes them."""
    with fresh.client() as c:
        before = _counts(fresh)
        entries = [_post(patient(), _urn()), {"request": {"method": "GET", "url": "Patient/not-here"}}]
        body = assert_outcome(c.post("/", json=_tx(entries), headers=FHIR_JSON), 404)
        assert "Bundle.entry[1]" in body["issue"][0]["diagnostics"]
        assert _counts(fresh) == before


def test_processing_order_delete_post_put_get(client: httpx.Client) -> None:
    victim = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    put_id = "order-" + uuid.uuid4().hex[:8]
    entries = [
        {"request": {"method": "GET", "url": f"Patient/{put_id}"}},
        {"resource": patient(id=put_id), "request": {"method": "PUT", "url": f"Patient/{put_id}"}},
        _post(patient()),
        {"request": {"method": "DELETE", "url": f"Patient/{victim}"}},
    ]
    out = client.post("/", json=_tx(entries), headers=FHIR_JSON).json()
    # the GET ran last, so it sees the PUT of the same bundle
    assert out["entry"][0]["response"]["status"] == "200 OK"
    assert out["entry"][0]["resource"]["id"] == put_id
    assert out["entry"][1]["response"]["status"] == "201 Created"
    assert out["entry"][3]["response"]["status"] == "204 No Content"
    assert client.get(f"/Patient/{victim}").status_code == 410


def test_if_none_exist_in_a_transaction_points_references_at_the_existing_resource(client: httpx.Client) -> None:
    ident = unique_identifier()
    existing = client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).json()["id"]
    p_urn = _urn()
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": p_urn}}
    entries = [
        _post(patient(identifier=[ident]), p_urn, ifNoneExist=f"identifier={ident['system']}|{ident['value']}"),
        _post(obs),
    ]
    out = client.post("/", json=_tx(entries), headers=FHIR_JSON).json()
    assert out["entry"][0]["response"]["status"] == "200 OK"
    obs_loc = out["entry"][1]["response"]["location"].split("/_history")[0]
    assert client.get("/" + obs_loc).json()["subject"]["reference"] == f"Patient/{existing}"


def test_conditional_references_resolve_by_search(client: httpx.Client) -> None:
    ident = unique_identifier()
    pid = client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).json()["id"]
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": f"Patient?identifier={ident['system']}|{ident['value']}"}}
    out = client.post("/", json=_tx([_post(obs)]), headers=FHIR_JSON).json()
    loc = out["entry"][0]["response"]["location"].split("/_history")[0]
    assert client.get("/" + loc).json()["subject"]["reference"] == f"Patient/{pid}"
    nothing = {**obs, "subject": {"reference": "Patient?identifier=urn:none|none"}}
    assert_outcome(client.post("/", json=_tx([_post(nothing)]), headers=FHIR_JSON), 404)


def test_two_entries_for_the_same_resource_are_400(client: httpx.Client) -> None:
    rid = "dup-" + uuid.uuid4().hex[:8]
    put = {"resource": patient(id=rid), "request": {"method": "PUT", "url": f"Patient/{rid}"}}
    assert_outcome(client.post("/", json=_tx([put, put]), headers=FHIR_JSON), 400)


def test_prefer_representation_returns_resources(client: httpx.Client) -> None:
    out = client.post("/", json=_tx([_post(patient("Rep"))]),
                      headers={**FHIR_JSON, "Prefer": "return=representation"}).json()
    assert out["entry"][0]["resource"]["name"][0]["family"] == "Rep"
    assert out["entry"][0]["response"]["etag"] == 'W/"1"'


def test_bad_bundles(client: httpx.Client) -> None:
    assert_outcome(client.post("/", json=patient(), headers=FHIR_JSON), 400)
    assert_outcome(client.post("/", json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR_JSON), 400)
    no_request = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": patient()}]}
    assert_outcome(client.post("/", json=no_request, headers=FHIR_JSON), 400)
    bad_method = _tx([{"resource": patient(), "request": {"method": "FETCH", "url": "Patient"}}])
    assert_outcome(client.post("/", json=bad_method, headers=FHIR_JSON), 400)


def test_batch_entries_are_independent(fresh: LiveServer) -> None:
    with fresh.client() as c:
        entries = [
            _post(patient("Good1")),
            _post({"resourceType": "Patient", "gender": 12}),
            {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
            {"request": {"method": "FETCH", "url": "Patient"}},
            _post(patient("Good2")),
        ]
        out = c.post("/", json=_tx(entries, "batch"), headers=FHIR_JSON).json()
        assert out["type"] == "batch-response"
        statuses = [e["response"]["status"] for e in out["entry"]]
        assert statuses[0] == "201 Created" and statuses[4] == "201 Created"
        assert statuses[1] == "400" and statuses[2] == "404" and statuses[3] == "400"
        assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
        assert fresh.db.execute("SELECT count(*) FROM resource")[0][0] == 2


def test_patch_entries_in_a_transaction(client: httpx.Client) -> None:
    import base64
    import json

    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(json.dumps(ops).encode()).decode()}
    out = client.post("/", json=_tx([{"resource": binary, "request": {"method": "PATCH", "url": f"Patient/{pid}"}}]),
                      headers=FHIR_JSON).json()
    assert out["entry"][0]["response"]["status"] == "200 OK"
    assert client.get(f"/Patient/{pid}").json()["gender"] == "male"


def test_duplicate_full_urls_are_400_and_nothing_is_written(fresh: LiveServer) -> None:
    # bundle.html bdl-7: fullUrl must be unique in a Bundle unless the entries' meta.versionId differ
    c = fresh.client()
    urn = _urn()
    before = _counts(fresh)
    body = assert_outcome(c.post("/", json=_tx([_post(patient(), urn), _post(patient(), urn)]), headers=FHIR_JSON),
                          400)
    assert body["issue"][0]["expression"] == ["Bundle.entry[1].fullUrl"]
    assert _counts(fresh) == before


def test_delete_then_put_of_one_resource_is_400(client: httpx.Client) -> None:
    # http.html#transaction: identities (conditional ones resolved) must not overlap in DELETE, POST, PUT/PATCH
    rid = "dupy-" + uuid.uuid4().hex[:8]
    client.put(f"/Patient/{rid}", json=patient(id=rid), headers=FHIR_JSON)
    delete = {"request": {"method": "DELETE", "url": f"Patient/{rid}"}}
    put = {"resource": patient(id=rid, gender="male"), "request": {"method": "PUT", "url": f"Patient/{rid}"}}
    assert_outcome(client.post("/", json=_tx([delete, put]), headers=FHIR_JSON), 400)
    absent = "dupy-" + uuid.uuid4().hex[:8]  # nothing to delete: the identities still overlap
    delete_absent = {"request": {"method": "DELETE", "url": f"Patient/{absent}"}}
    put_absent = {"resource": patient(id=absent), "request": {"method": "PUT", "url": f"Patient/{absent}"}}
    assert_outcome(client.post("/", json=_tx([delete_absent, put_absent]), headers=FHIR_JSON), 400)
    assert_outcome(client.get(f"/Patient/{absent}"), 404)
    now = client.get(f"/Patient/{rid}").json()
    assert now["meta"]["versionId"] == "1" and now["gender"] == "female"


def test_conditional_delete_overlapping_an_update_is_400(client: httpx.Client) -> None:
    ident = unique_identifier()
    pid = client.post("/Patient", json=patient(identifier=[ident]), headers=FHIR_JSON).json()["id"]
    delete = {"request": {"method": "DELETE", "url": f"Patient?identifier={ident['system']}|{ident['value']}"}}
    patch_doc = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.gender"},
        {"name": "value", "valueCode": "male"}]}]}
    patch_entry = {"resource": patch_doc, "request": {"method": "PATCH", "url": f"Patient/{pid}"}}
    assert_outcome(client.post("/", json=_tx([delete, patch_entry]), headers=FHIR_JSON), 400)
    assert client.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"
