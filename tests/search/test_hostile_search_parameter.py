"""A client's SearchParameter whose expression is hostile FHIRPath (a backtracking regex, endless
repeat()): writes of its base type still succeed promptly, that parameter is just not indexed for
the resource, and other resources are indexed and found as usual."""

from __future__ import annotations

import time

import orjson

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, patient


def _parameter(code: str, expression: str) -> dict[str, object]:
    return {
        "resourceType": "SearchParameter", "url": f"http://example.org/fhir/SearchParameter/{code}",
        "name": code, "status": "active", "description": "hostile", "code": code,
        "base": ["Patient"], "type": "string", "expression": expression,
    }


def test_hostile_search_parameter_does_not_block_writes(fresh: LiveServer) -> None:
    with fresh.client() as c:
        for code, expression in [
            ("slowregex", "Patient.name.where(family.matches('(a|aa)+$')).family"),
            ("endless", "Patient.name.family.repeat($this & 'x')"),
        ]:
            resp = c.post("/SearchParameter", content=orjson.dumps(_parameter(code, expression)), headers=FHIR_JSON)
            assert resp.status_code == 201, resp.text
        start = time.monotonic()
        hostile = c.post("/Patient", json=patient("a" * 60 + "!"), headers=FHIR_JSON, timeout=30)
        assert hostile.status_code == 201, hostile.text
        assert time.monotonic() - start < 10
        plain = c.post("/Patient", json=patient("Bbb"), headers=FHIR_JSON, timeout=30)
        assert plain.status_code == 201, plain.text
        found = c.get("/Patient", params={"slowregex": "Bbb"}).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == []  # 'Bbb' does not match
        found = c.get("/Patient", params={"family": "Bbb"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [plain.json()["id"]]
        assert c.get("/healthz", timeout=5).status_code == 200
