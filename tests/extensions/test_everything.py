"""Patient/$everything (R4 patient-operation-everything.html) on Synthea patients, checked against the raw bundles."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest

from fhir_server.demo import synthea_files
from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, assert_outcome

OUTSIDE = {"Organization", "Practitioner"}  # in the bundles, but not in the Patient compartment


@pytest.fixture(scope="module")
def loaded(pg_admin_url: str) -> Iterator[tuple[LiveServer, list[dict]]]:
    server = LiveServer(Database(pg_admin_url), auth_enabled=False).start()
    bundles = [orjson.loads(gzip.decompress(f.read_bytes())) for f in synthea_files()[2:4]]
    outcomes = []
    with server.client() as c:
        for b in bundles:
            resp = c.post("/", content=orjson.dumps(b), headers={**FHIR_JSON, "Prefer": "return=representation"})
            assert resp.status_code == 200
            outcomes.append(resp.json())
    yield server, outcomes
    server.stop()


def _stored(outcome: dict) -> list[dict]:
    return [e["resource"] for e in outcome["entry"]]


def _all_pages(c, url: str) -> tuple[list[dict], list[dict]]:  # type: ignore[no-untyped-def]
    matches, includes = [], []
    while url:
        page = c.get(url).json()
        for e in page["entry"]:
            (matches if e["search"]["mode"] == "match" else includes).append(e["resource"])
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    return matches, includes


def test_everything_is_the_compartment_plus_what_it_refers_to(loaded) -> None:  # type: ignore[no-untyped-def]
    server, outcomes = loaded
    mine = _stored(outcomes[0])
    patient = next(r for r in mine if r["resourceType"] == "Patient")
    expected = {(r["resourceType"], r["id"]) for r in mine if r["resourceType"] not in OUTSIDE}
    referenced = {ref["reference"] for r in mine if r["resourceType"] not in OUTSIDE
                  for ref in _references(r)}
    expected_includes = {(r["resourceType"], r["id"]) for r in mine if r["resourceType"] in OUTSIDE
                         and f"{r['resourceType']}/{r['id']}" in referenced}
    with server.client() as c:
        matches, includes = _all_pages(c, f"/Patient/{patient['id']}/$everything?_count=37")
    keys = [(r["resourceType"], r["id"]) for r in matches]
    assert len(keys) == len(set(keys))  # no resource twice across pages
    assert set(keys) == expected
    assert {(r["resourceType"], r["id"]) for r in includes} == expected_includes
    other = next(r for r in _stored(outcomes[1]) if r["resourceType"] == "Patient")
    assert ("Patient", other["id"]) not in set(keys)


def _references(node) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for v in node.values():
            yield from _references(v)
    elif isinstance(node, list):
        for v in node:
            yield from _references(v)


def test_type_and_period_filters(loaded) -> None:  # type: ignore[no-untyped-def]
    server, outcomes = loaded
    mine = _stored(outcomes[0])
    patient = next(r for r in mine if r["resourceType"] == "Patient")
    with server.client() as c:
        got, _ = _all_pages(c, f"/Patient/{patient['id']}/$everything?_type=Condition,Immunization&_count=500")
        assert {r["resourceType"] for r in got} <= {"Condition", "Immunization"}
        assert len(got) == sum(1 for r in mine if r["resourceType"] in ("Condition", "Immunization"))
        # Immunizations whose occurrence is in 2015 (Immunization 'date' = occurrence), computed from the bundle
        in_2015 = {r["id"] for r in mine if r["resourceType"] == "Immunization"
                   and r["occurrenceDateTime"][:4] == "2015"}
        got, _ = _all_pages(c, f"/Patient/{patient['id']}/$everything?_type=Immunization"
                               "&start=2015-01-01&end=2015-12-31")
        assert {r["id"] for r in got} == in_2015


def test_errors(loaded) -> None:  # type: ignore[no-untyped-def]
    server, _ = loaded
    with server.client() as c:
        assert_outcome(c.get("/Patient/no-such-patient/$everything"), 404)
        assert_outcome(c.get("/Observation/x/$everything"), 404)
        pid = c.get("/Patient", params={"_count": 1}).json()["entry"][0]["resource"]["id"]
        assert_outcome(c.get(f"/Patient/{pid}/$everything", params={"start": "not-a-date"}), 400)
        assert_outcome(c.get(f"/Patient/{pid}/$everything", params={"_type": "Organization"}), 400)
