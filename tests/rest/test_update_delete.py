"""update, update-as-create, delete (R4 http.html#update, #delete) and If-Match (http.html#concurrency)."""

from __future__ import annotations

import uuid

import httpx

from tests.helpers import FHIR_JSON, assert_outcome, patient


def _create(client: httpx.Client, **kw: object) -> dict:
    resp = client.post("/Patient", json=patient(**kw), headers=FHIR_JSON)
    assert resp.status_code == 201
    return resp.json()


def test_update_increments_the_version(client: httpx.Client) -> None:
    p = _create(client)
    p["gender"] = "male"
    resp = client.put(f"/Patient/{p['id']}", json=p, headers=FHIR_JSON)
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"2"'
    assert resp.json()["meta"]["versionId"] == "2"
    assert client.get(f"/Patient/{p['id']}").json()["gender"] == "male"


def test_update_as_create_with_a_client_id(client: httpx.Client, live) -> None:
    new_id = "client-" + uuid.uuid4().hex[:10]
    resp = client.put(f"/Patient/{new_id}", json=patient(id=new_id), headers=FHIR_JSON)
    assert resp.status_code == 201
    assert resp.headers["Location"] == f"{live.base}/Patient/{new_id}/_history/1"
    assert client.get(f"/Patient/{new_id}").status_code == 200


def test_update_id_rules(client: httpx.Client) -> None:
    p = _create(client)
    assert_outcome(client.put(f"/Patient/{p['id']}", json=patient(), headers=FHIR_JSON), 400)  # no id in body
    assert_outcome(client.put(f"/Patient/{p['id']}", json=patient(id="other"), headers=FHIR_JSON), 400)
    assert_outcome(client.put("/Patient/bad!id", json=patient(id="bad!id"), headers=FHIR_JSON), 400)


def test_if_match(client: httpx.Client) -> None:
    p = _create(client)
    stale = client.put(f"/Patient/{p['id']}", json=p, headers={**FHIR_JSON, "If-Match": 'W/"2"'})
    assert_outcome(stale, 412)
    ok = client.put(f"/Patient/{p['id']}", json=p, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == 'W/"2"'


def test_delete_then_read_is_410_and_history_keeps_it(client: httpx.Client) -> None:
    p = _create(client)
    resp = client.delete(f"/Patient/{p['id']}")
    assert resp.status_code == 204
    assert_outcome(client.get(f"/Patient/{p['id']}"), 410, "deleted")
    assert client.get(f"/Patient/{p['id']}/_history/1").status_code == 200
    assert_outcome(client.get(f"/Patient/{p['id']}/_history/2"), 410)
    hist = client.get(f"/Patient/{p['id']}/_history").json()
    assert hist["type"] == "history"
    assert hist["total"] == 2
    newest = hist["entry"][0]
    assert newest["request"] == {"method": "DELETE", "url": f"Patient/{p['id']}"}
    assert "resource" not in newest
    assert hist["entry"][1]["resource"]["id"] == p["id"]


def test_delete_of_absent_or_deleted_succeeds(client: httpx.Client) -> None:
    assert client.delete("/Patient/never-existed-" + uuid.uuid4().hex[:6]).status_code == 204
    p = _create(client)
    assert client.delete(f"/Patient/{p['id']}").status_code == 204
    assert client.delete(f"/Patient/{p['id']}").status_code == 204
    # deleting twice made one deletion version only
    assert client.get(f"/Patient/{p['id']}/_history").json()["total"] == 2


def test_update_after_delete_revives_with_next_version(client: httpx.Client) -> None:
    p = _create(client)
    client.delete(f"/Patient/{p['id']}")
    resp = client.put(f"/Patient/{p['id']}", json=p, headers=FHIR_JSON)
    assert resp.status_code == 201
    assert resp.json()["meta"]["versionId"] == "3"
    assert client.get(f"/Patient/{p['id']}").status_code == 200
