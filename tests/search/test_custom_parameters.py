"""Custom SearchParameter resources (R4 searchparameter.html) and re-indexing.

POSTing a SearchParameter makes it searchable at once for resources written afterwards and lists it
in the CapabilityStatement; resources stored before it are found once re-indexed
(``fhir_server.search.reindex``). Re-indexing rebuilds exactly what the write path indexed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from fhir_server.app import open_server
from fhir_server.search.reindex import reindex, reindex_operation
from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome

MARITAL = {
    "resourceType": "SearchParameter", "url": "http://example.org/fhir/SearchParameter/patient-marital",
    "name": "marital", "status": "active", "description": "Marital status of a patient", "code": "marital",
    "base": ["Patient"], "type": "token", "expression": "Patient.maritalStatus",
}


def _patient(c: Any, pid: str, marital: str) -> None:
    body = {"resourceType": "Patient", "id": pid, "maritalStatus": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": marital}]}}
    resp = c.put(f"/Patient/{pid}", content=orjson.dumps(body), headers=FHIR_JSON)
    assert resp.status_code in (200, 201), resp.text


def _ids(c: Any, query: str) -> set[str]:
    resp = c.get(f"/Patient?{query}")
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json()["entry"] if e["search"]["mode"] == "match"}


def _reindex(server: LiveServer, types: list[str] | None) -> int:
    async def run() -> int:
        async with open_server(server.settings) as srv:
            return await reindex(srv, types, batch=2)

    return asyncio.run(run())


def test_custom_search_parameter(fresh: LiveServer) -> None:
    with fresh.client() as c:
        _patient(c, "before-m", "M")
        _patient(c, "before-s", "S")
        unknown = c.get("/Patient?marital=M", headers={"Prefer": "handling=strict"})
        assert_outcome(unknown, 400)
        resp = c.post("/SearchParameter", content=orjson.dumps(MARITAL), headers=FHIR_JSON)
        assert resp.status_code == 201, resp.text
        # in the CapabilityStatement
        cs = c.get("/metadata").json()
        patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
        assert {"name": "marital", "type": "token", "definition": MARITAL["url"]}.items() <= next(
            p for p in patient["searchParam"] if p["name"] == "marital").items()
        # known now; resources written from now on are indexed
        _patient(c, "after-m", "M")
        assert _ids(c, "marital=M") == {"after-m"}
        # the ones written before are found after a re-index
        assert _reindex(fresh, ["Patient"]) == 3
        assert _ids(c, "marital=M") == {"before-m", "after-m"}
        assert _ids(c, "marital=http://terminology.hl7.org/CodeSystem/v3-MaritalStatus|S") == {"before-s"}
        assert _ids(c, "marital:missing=true") == set()
        # retiring it takes it away again
        sp_id = resp.json()["id"]
        retired = {**MARITAL, "id": sp_id, "status": "retired"}
        assert c.put(f"/SearchParameter/{sp_id}", content=orjson.dumps(retired), headers=FHIR_JSON).status_code == 200
        assert_outcome(c.get("/Patient?marital=M", headers={"Prefer": "handling=strict"}), 400)


def _index_rows(server: LiveServer) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for table in ("idx_string", "idx_token", "idx_date", "idx_number", "idx_quantity", "idx_reference",
                  "idx_uri", "idx_geo", "idx_composite"):
        rows += [(table, *r) for r in server.db.execute(f"SELECT * FROM {table}")]
    return sorted(rows, key=repr)


def test_reindex_rebuilds_what_writes_indexed(fresh: LiveServer) -> None:
    from tests.search import data

    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in data.resources()]}
    with fresh.client() as c:
        assert c.post("/", content=orjson.dumps(bundle), headers=FHIR_JSON).status_code == 200
        assert c.delete("/Patient/pat-6").status_code in (200, 204)
    before = _index_rows(fresh)
    assert len(before) > 200
    fresh.db.execute("DELETE FROM idx_token")
    fresh.db.execute("DELETE FROM idx_string WHERE rid % 2 = 0")
    assert _reindex(fresh, None) == len(data.resources()) - 1  # the deleted patient is not re-indexed
    assert _index_rows(fresh) == before

    async def operation() -> dict[str, Any]:
        async with open_server(fresh.settings) as srv:
            return await reindex_operation(srv, "Observation", [])

    assert asyncio.run(operation()) == {"resourceType": "Parameters",
                                        "parameter": [{"name": "count", "valueInteger": 9}]}
    assert _index_rows(fresh) == before
