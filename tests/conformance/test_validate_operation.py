"""$validate (R4 resource-operation-validate.html), the profile registry and enforced profiles, over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conformance.conftest import ENFORCED
from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient

VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"


def _profile(url: str, min_identifier: int = 1) -> dict[str, Any]:
    """A Patient profile (differential only: the server generates the snapshot) requiring an identifier."""
    return {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": "TestPatient",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {
            "element": [
                {"id": "Patient", "path": "Patient"},
                {"id": "Patient.identifier", "path": "Patient.identifier", "min": min_identifier},
                {"id": "Patient.gender", "path": "Patient.gender", "fixedCode": "female"},
            ]
        },
    }


def _errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_validate_a_valid_resource(client: httpx.Client) -> None:
    resp = client.post("/Patient/$validate", json=patient(), headers=FHIR_JSON)
    assert resp.status_code == 200
    assert resp.json()["resourceType"] == "OperationOutcome"
    assert _errors(resp.json()) == []


def test_validate_reports_invariants_with_expression(client: httpx.Client) -> None:
    # Period per-1: start SHALL be <= end (datatypes.html#Period)
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "period": {"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": enc}]}
    out = client.post("/Encounter/$validate", json=body, headers=FHIR_JSON).json()
    per1 = [i for i in _errors(out) if "per-1" in i["diagnostics"]]
    assert per1 and per1[0]["code"] == "invariant" and per1[0]["expression"] == ["Encounter.period"]


def test_validate_against_a_core_profile(client: httpx.Client) -> None:
    # vitalsigns (observation-vitalsigns.html): category VSCat slice and subject are required
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"}}
    resp = client.post("/Observation/$validate", params={"profile": VITALSIGNS}, json=obs, headers=FHIR_JSON)
    messages = " ".join(i["diagnostics"] for i in _errors(resp.json()))
    assert "VSCat" in messages and "Observation.subject" in messages


def test_validate_stored_instance_and_modes(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    assert _errors(client.get(f"/Patient/{pid}/$validate").json()) == []
    other = {**patient(), "id": "not-" + pid}
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": other}, {"name": "mode", "valueCode": "update"}],
    }
    assert _errors(client.post(f"/Patient/{pid}/$validate", json=body, headers=FHIR_JSON).json())
    assert client.get(f"/Patient/{pid}/$validate", params={"mode": "delete"}).status_code == 200


def test_validate_bad_requests_are_4xx(client: httpx.Client) -> None:
    assert_outcome(client.post("/Patient/$validate", json={"resourceType": "Parameters"}, headers=FHIR_JSON), 400)
    assert_outcome(client.get("/Patient/$validate", params={"mode": "nonsense"}), 400)
    unknown = {"profile": "http://example.org/no-such-profile"}
    assert_outcome(client.post("/Patient/$validate", params=unknown, json=patient(), headers=FHIR_JSON), 400)
    assert_outcome(client.post("/Observation/$validate", json=patient(), headers=FHIR_JSON), 400)
    assert_outcome(client.post("/Patient/$validate", content=b"{nope", headers=FHIR_JSON), 400)


def test_posted_profile_is_usable_at_once(client: httpx.Client) -> None:
    url = f"http://example.org/fhir/StructureDefinition/p-{uuid.uuid4().hex[:8]}"
    assert client.post("/StructureDefinition", json=_profile(url), headers=FHIR_JSON).status_code == 201
    bad = patient(gender="male")  # no identifier, and gender is fixed to female
    out = client.post("/Patient/$validate", params={"profile": url}, json=bad, headers=FHIR_JSON).json()
    messages = [i["diagnostics"] for i in _errors(out)]
    assert any("Patient.identifier: minimum required = 1" in m for m in messages)
    assert any("fixed to 'female'" in m for m in messages)
    good = patient(identifier=[{"system": "urn:x", "value": "1"}])
    assert (
        _errors(client.post("/Patient/$validate", params={"profile": url}, json=good, headers=FHIR_JSON).json()) == []
    )


def test_meta_profile_claims_are_checked(client: httpx.Client) -> None:
    url = f"http://example.org/fhir/StructureDefinition/c-{uuid.uuid4().hex[:8]}"
    client.post("/StructureDefinition", json=_profile(url), headers=FHIR_JSON).raise_for_status()
    claimed = patient(meta={"profile": [url]})
    assert _errors(client.post("/Patient/$validate", json=claimed, headers=FHIR_JSON).json())


def test_enforced_profile_on_write(enforcing: LiveServer) -> None:
    with enforcing.client(headers={"Accept": "application/fhir+json"}) as c:
        # before the profile exists, the claim can't be checked: writes are accepted
        assert c.post("/Patient", json=patient(), headers=FHIR_JSON).status_code == 201
        c.post("/StructureDefinition", json=_profile(ENFORCED), headers=FHIR_JSON).raise_for_status()
        body = assert_outcome(c.post("/Patient", json=patient(), headers=FHIR_JSON), 422)
        assert any("identifier" in i["diagnostics"] for i in body["issue"])
        ok = patient(identifier=[{"system": "urn:x", "value": "2"}])
        created = c.post("/Patient", json=ok, headers=FHIR_JSON)
        assert created.status_code == 201
        pid = created.json()["id"]
        assert_outcome(c.put(f"/Patient/{pid}", json={**patient(), "id": pid}, headers=FHIR_JSON), 422)
        # structure is still a 400, other types are not affected
        assert_outcome(c.post("/Patient", json={**ok, "bogus": 1}, headers=FHIR_JSON), 400)
        obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
        assert c.post("/Observation", json=obs, headers=FHIR_JSON).status_code == 201
        cs = c.get("/metadata").json()
        assert cs["instantiates"] == ["http://hl7.org/fhir/CapabilityStatement/base"]
