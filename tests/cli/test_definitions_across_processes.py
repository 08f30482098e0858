"""Definitions written through one server process are used at once by the others (NOTIFY fhir_definitions)."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Database
from tests.subscriptions.test_durability import ServerProcess

MMN = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def test_a_search_parameter_posted_to_one_process_works_in_another(pg_admin_url: str) -> None:
    db = Database(pg_admin_url)
    first, second = ServerProcess(db), ServerProcess(db)
    try:
        sp = {"resourceType": "SearchParameter", "url": "http://example.org/SearchParameter/mmn", "name": "mmn",
              "status": "active", "description": "mother's maiden name", "code": "mmn", "base": ["Patient"],
              "type": "string", "expression": f"Patient.extension('{MMN}').value"}
        with first.client() as a:
            assert a.post("/SearchParameter", json=sp, headers=FHIR_JSON).status_code == 201
        with second.client() as b:
            deadline = time.time() + 20
            while "mmn" not in _params(b) and time.time() < deadline:
                time.sleep(0.2)
            assert "mmn" in _params(b)
            pat = {"resourceType": "Patient", "extension": [{"url": MMN, "valueString": "Oakhurst"}]}
            created = b.post("/Patient", json=pat, headers=FHIR_JSON).json()
            found = b.get("/Patient", params={"mmn": "oakh"}).json()
            assert [e["resource"]["id"] for e in found["entry"] if e["search"]["mode"] == "match"] == [created["id"]]
    finally:
        first.stop()
        second.stop()


def _params(c: httpx.Client) -> set[str]:
    cs = c.get("/metadata").json()
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    return {p["name"] for p in patient.get("searchParam", [])}
