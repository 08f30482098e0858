"""PATCH with JSON Patch (R4 http.html#patch, RFC 6902)."""

from __future__ import annotations

import httpx

from tests.helpers import FHIR_JSON, assert_outcome, patient

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def _pid(client: httpx.Client) -> str:
    return str(client.post("/Patient", json=patient("Patchy"), headers=FHIR_JSON).json()["id"])


def test_json_patch_replace_add_remove(client: httpx.Client) -> None:
    pid = _pid(client)
    ops = [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/name/0/given/-", "value": "Second"},
        {"op": "remove", "path": "/birthDate"},
    ]
    resp = client.patch(f"/Patient/{pid}", json=ops, headers=JSON_PATCH)
    assert resp.status_code == 200
    body = resp.json()
    assert body["gender"] == "male"
    assert body["name"][0]["given"] == ["Ada", "Second"]
    assert "birthDate" not in body
    assert body["meta"]["versionId"] == "2"
    assert resp.headers["ETag"] == 'W/"2"'
    hist = client.get(f"/Patient/{pid}/_history").json()
    assert hist["entry"][0]["request"]["method"] == "PATCH"


def test_failed_test_op_is_422_and_changes_nothing(client: httpx.Client) -> None:
    pid = _pid(client)
    ops = [{"op": "replace", "path": "/gender", "value": "male"}, {"op": "test", "path": "/gender", "value": "x"}]
    assert_outcome(client.patch(f"/Patient/{pid}", json=ops, headers=JSON_PATCH), 422)
    current = client.get(f"/Patient/{pid}").json()
    assert current["gender"] == "female" and current["meta"]["versionId"] == "1"


def test_malformed_patch_documents_are_400(client: httpx.Client) -> None:
    pid = _pid(client)
    assert_outcome(client.patch(f"/Patient/{pid}", json={"op": "add"}, headers=JSON_PATCH), 400)
    assert_outcome(client.patch(f"/Patient/{pid}", json=[{"op": "jump", "path": "/x"}], headers=JSON_PATCH), 400)
    assert_outcome(client.patch(f"/Patient/{pid}", content=b"[{", headers=JSON_PATCH), 400)


def test_patch_may_not_change_id_or_type(client: httpx.Client) -> None:
    pid = _pid(client)
    ops = [{"op": "replace", "path": "/id", "value": "elsewhere"}]
    assert_outcome(client.patch(f"/Patient/{pid}", json=ops, headers=JSON_PATCH), 422)


def test_patch_of_missing_or_deleted_resource(client: httpx.Client) -> None:
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    assert_outcome(client.patch("/Patient/not-there-at-all", json=ops, headers=JSON_PATCH), 404)
    pid = _pid(client)
    client.delete(f"/Patient/{pid}")
    assert_outcome(client.patch(f"/Patient/{pid}", json=ops, headers=JSON_PATCH), 410)


def test_patch_if_match(client: httpx.Client) -> None:
    pid = _pid(client)
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    resp = client.patch(f"/Patient/{pid}", json=ops, headers={**JSON_PATCH, "If-Match": 'W/"9"'})
    assert_outcome(resp, 412)
