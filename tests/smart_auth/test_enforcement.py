"""Scopes enforced on every FHIR interaction (SMART App Launch 2.x scopes-and-launch-context; RFC 6750 §3).

Missing or bad tokens get 401 with ``WWW-Authenticate: Bearer``; a token whose scopes do not cover
the interaction gets a 403 OperationOutcome. Letters: c create, r read/vread/instance history,
u update/patch, d delete, s search/type and system history; v1 ``read`` = rs, ``write`` = cud.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import assert_outcome
from tests.smart_auth.conftest import FHIR, add_user, bearer, create, token

LAB = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture(scope="module")
def data(auth: LiveServer) -> dict[str, str]:
    pat = create(auth, {"resourceType": "Patient", "name": [{"family": "Scoped"}]})
    ref = {"reference": f"Patient/{pat['id']}"}

    def obs(category: str) -> str:
        return create(auth, {"resourceType": "Observation", "status": "final", "subject": ref, "code": {"text": "x"},
                             "category": [{"coding": [{"system": LAB, "code": category}]}]})["id"]

    cond = create(auth, {"resourceType": "Condition", "subject": ref, "code": {"text": "flu"}})
    return {"patient": pat["id"], "lab": obs("laboratory"), "vital": obs("vital-signs"), "condition": cond["id"]}


def get(auth: LiveServer, path: str, tok: str, **params: str) -> httpx.Response:
    return httpx.get(f"{auth.base}/{path}", params=params, headers=bearer(tok))


def test_no_token_bad_token_expired_token(auth: LiveServer, data: dict[str, str]) -> None:
    path = f"{auth.base}/Patient/{data['patient']}"
    resp = httpx.get(path)
    assert_outcome(resp, 401, "login")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Bearer not-a-jwt", "Token abc"):
        resp = httpx.get(path, headers={"Authorization": header})
        assert_outcome(resp, 401)
        assert resp.headers["www-authenticate"].startswith("Bearer")
    good = token(auth, "user/*.rs")
    head, claims, sig = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(claims + "=="))
    forged["scope"] = "user/*.cruds"
    tampered = ".".join([head, base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode(), sig])
    resp = httpx.get(path, headers=bearer(tampered))
    assert_outcome(resp, 401)
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    resp = httpx.get(path, headers=bearer(token(auth, "user/*.rs", seconds=-30)))
    assert_outcome(resp, 401)
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert httpx.get(path, headers=bearer(good)).status_code == 200
    assert httpx.get(f"{auth.base}/metadata").status_code == 200  # the CapabilityStatement is public


def test_token_for_another_server_is_refused(auth: LiveServer, data: dict[str, str]) -> None:
    from fhir_server.config import Settings
    from smart_auth.cli import mint
    from tests.smart_auth.conftest import run_db

    other = run_db(auth, lambda conn: mint(conn, Settings(), "user/*.rs", "http://other.example/fhir", 600))
    assert_outcome(httpx.get(f"{auth.base}/Patient/{data['patient']}", headers=bearer(other)), 401)


def test_v1_write_scope_cannot_read(auth: LiveServer, data: dict[str, str]) -> None:
    tok = token(auth, "user/Observation.write")
    assert_outcome(get(auth, f"Observation/{data['lab']}", tok), 403, "forbidden")
    assert_outcome(get(auth, "Observation", tok), 403, "forbidden")
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "w"}}
    assert httpx.post(f"{auth.base}/Observation", json=body, headers=bearer(tok, **FHIR)).status_code == 201


def test_letters_map_to_interactions(auth: LiveServer, data: dict[str, str]) -> None:
    obs = f"Observation/{data['lab']}"
    read_only = token(auth, "user/Observation.r")
    assert get(auth, obs, read_only).status_code == 200
    assert get(auth, f"{obs}/_history/1", read_only).status_code == 200
    assert get(auth, f"{obs}/_history", read_only).status_code == 200
    assert_outcome(get(auth, "Observation", read_only), 403)
    assert_outcome(get(auth, "Observation/_history", read_only), 403)
    search_only = token(auth, "user/Observation.s")
    assert get(auth, "Observation", search_only).status_code == 200
    assert get(auth, "Observation/_history", search_only).status_code == 200
    assert_outcome(get(auth, obs, search_only), 403)
    assert_outcome(get(auth, f"Condition/{data['condition']}", token(auth, "user/Observation.rs")), 403)
    current = get(auth, obs, read_only).json()
    update_only = token(auth, "user/Observation.u")
    assert httpx.put(f"{auth.base}/{obs}", json=current, headers=bearer(update_only, **FHIR)).status_code == 200
    patch = [{"op": "replace", "path": "/status", "value": "amended"}]
    resp = httpx.patch(f"{auth.base}/{obs}", json=patch,
                       headers=bearer(update_only, **{"Content-Type": "application/json-patch+json"}))
    assert resp.status_code == 200
    assert_outcome(httpx.delete(f"{auth.base}/{obs}", headers=bearer(update_only)), 403)
    assert_outcome(httpx.post(f"{auth.base}/Observation", json=current, headers=bearer(update_only, **FHIR)), 403)


def test_category_constrained_scope_filters_search_and_reads(auth: LiveServer, data: dict[str, str]) -> None:
    tok = token(auth, f"patient/Observation.rs?category={LAB}|laboratory", patient=data["patient"])
    found = get(auth, "Observation", tok, patient=data["patient"]).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [data["lab"]]
    assert get(auth, f"Observation/{data['lab']}", tok).status_code == 200
    assert_outcome(get(auth, f"Observation/{data['vital']}", tok), 403)
    plain = token(auth, "patient/Observation.rs?category=vital-signs", patient=data["patient"])
    assert [e["resource"]["id"] for e in get(auth, "Observation", plain).json().get("entry", [])] == [data["vital"]]


def test_patient_user_with_user_scopes_sees_only_own_compartment(auth: LiveServer, data: dict[str, str]) -> None:
    other = create(auth, {"resourceType": "Patient", "name": [{"family": "Other"}]})
    user = add_user(auth, f"Patient/{data['patient']}")
    tok = token(auth, "user/*.rs", user=user)
    assert get(auth, f"Patient/{data['patient']}", tok).status_code == 200
    assert_outcome(get(auth, f"Patient/{other['id']}", tok), 403)
    practitioner_user = add_user(auth, "Practitioner/doc")
    assert get(auth, f"Patient/{other['id']}", token(auth, "user/*.rs", user=practitioner_user)).status_code == 200


def test_patient_scope_on_types_outside_the_compartment(auth: LiveServer, data: dict[str, str]) -> None:
    med = create(auth, {"resourceType": "Medication", "code": {"text": "aspirin"}})
    binary = create(auth, {"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="})
    tok = token(auth, "patient/*.cruds", patient=data["patient"])
    assert get(auth, f"Medication/{med['id']}", tok).status_code == 200  # shared reference data
    assert_outcome(get(auth, f"Binary/{binary['id']}", tok), 403)  # may hold anyone's data
    body = {"resourceType": "Medication", "code": {"text": "new"}}
    assert_outcome(httpx.post(f"{auth.base}/Medication", json=body, headers=bearer(tok, **FHIR)), 403)
    no_patient = token(auth, "patient/*.rs")  # a patient scope without a patient in context grants nothing
    assert_outcome(get(auth, f"Patient/{data['patient']}", no_patient), 403)


def test_system_search_types(auth: LiveServer, data: dict[str, str]) -> None:
    tok = token(auth, "user/Observation.rs")
    found = get(auth, "", tok).json()
    assert {e["resource"]["resourceType"] for e in found.get("entry", []) if e["search"]["mode"] == "match"} \
        <= {"Observation"}
    assert_outcome(get(auth, "", tok, _type="Patient,Observation"), 403)
    assert get(auth, "", tok, _type="Observation").status_code == 200


def test_bundles_check_each_entry(auth: LiveServer, data: dict[str, str]) -> None:
    tok = token(auth, "user/Observation.rs")
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Observation/{data['lab']}"}},
        {"request": {"method": "GET", "url": f"Patient/{data['patient']}"}},
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "b"}}}]}
    out = httpx.post(auth.base, json=batch, headers=bearer(tok, **FHIR)).json()
    assert [e["response"]["status"][:3] for e in out["entry"]] == ["200", "403", "403"]
    transaction = {**batch, "type": "transaction", "entry": batch["entry"][2:]}
    assert_outcome(httpx.post(auth.base, json=transaction, headers=bearer(tok, **FHIR)), 403)
    before = get(auth, "Observation", token(auth, "system/Observation.rs"), code="b", _summary="count").json()
    assert before["total"] == 0  # nothing of the refused transaction was written
