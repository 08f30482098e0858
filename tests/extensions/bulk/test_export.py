"""Bulk Data $export (Bulk Data IG 2.0 export.html) of the Synthea set: system, Patient and Group level,
``_type``, ``_typeFilter``, the manifest and the files, compared with what the raw bundles hold."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from fhir_server.fhir.dates import date_range
from tests.conftest import LiveServer
from tests.extensions.bulk.conftest import (
    SERVER_MADE,
    Bulk,
    expected_resources,
    keys,
    patient_bundles,
    raw_bundles,
    stored_form,
    without_server_meta,
)
from tests.helpers import FHIR_JSON

Json = dict[str, Any]
OUTSIDE_COMPARTMENT = {"Organization", "Practitioner"}  # R4 Patient CompartmentDefinition lists neither
MADE_BY_TESTS = {"Group"}  # the Group tests below add Groups to the shared server


def _loaded(found: list[Json]) -> list[Json]:
    return [r for r in found if r["resourceType"] not in SERVER_MADE | MADE_BY_TESTS]


def _compartment(bundle: Json) -> dict[tuple[str, str], Json]:
    return {(r["resourceType"], r["id"]): r for r in stored_form(bundle) if r["resourceType"] not in
            OUTSIDE_COMPARTMENT}


def _patient_id(bundle: Json) -> str:
    return str(next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"))


def test_system_export_is_the_loaded_data_resource_for_resource(bulk: Bulk) -> None:
    manifest, found = bulk.export("/$export")
    assert manifest["request"].endswith("/$export")
    assert manifest["requiresAccessToken"] is False
    assert manifest["error"] == []
    transaction_time = date_range(manifest["transactionTime"])[0]
    mine = _loaded(found)
    assert len(keys(mine)) == len(set(keys(mine))), "a resource exported twice"
    expected = expected_resources(raw_bundles())
    assert set(keys(mine)) == set(expected)
    for resource in mine:
        assert without_server_meta(resource) == expected[(resource["resourceType"], resource["id"])]
        assert date_range(resource["meta"]["lastUpdated"])[0] <= transaction_time
    assert len({e["url"] for e in manifest["output"]}) == len(manifest["output"])


def test_patient_level_export_is_every_patient_compartment(bulk: Bulk) -> None:
    _, found = bulk.export("/Patient/$export")
    expected: dict[tuple[str, str], Json] = {}
    for b in patient_bundles():
        expected.update(_compartment(b))
    mine = _loaded(found)
    assert sorted(keys(mine)) == sorted(expected)
    assert not {r["resourceType"] for r in found} & OUTSIDE_COMPARTMENT


def test_group_export_is_its_active_patient_members(bulk: Bulk) -> None:
    first, second, inactive = patient_bundles()[:3]
    members = [{"entity": {"reference": f"Patient/{_patient_id(first)}"}},
               {"entity": {"reference": f"Patient/{_patient_id(second)}"}},
               {"entity": {"reference": f"Patient/{_patient_id(inactive)}"}, "inactive": True},
               {"entity": {"reference": "Practitioner/not-a-patient"}}]
    group = {"resourceType": "Group", "type": "person", "actual": True, "member": members}
    resp = bulk.client.post("/Group", json=group, headers=FHIR_JSON)
    assert resp.status_code == 201, resp.text
    gid = resp.json()["id"]

    _, found = bulk.export(f"/Group/{gid}/$export")
    assert sorted(keys(_loaded(found))) == sorted({**_compartment(first), **_compartment(second)})

    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": f"Patient/{_patient_id(second)}"}},
        {"name": "_type", "valueString": "Patient,Immunization"}]}
    _, found = bulk.export(f"/Group/{gid}/$export", body=body)
    wanted = {k for k in _compartment(second) if k[0] in ("Patient", "Immunization")}
    assert sorted(keys(_loaded(found))) == sorted(wanted)

    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": f"Patient/{_patient_id(inactive)}"}}]}
    resp = bulk.client.post(f"/Group/{gid}/$export", json=body, headers={"Prefer": "respond-async", **FHIR_JSON})
    assert resp.status_code == 400, resp.text


def test_type_limits_the_types(bulk: Bulk) -> None:
    counts = Counter(t for t, _ in expected_resources(raw_bundles()))
    manifest, found = bulk.export("/$export", params=[("_type", "Patient,Immunization"), ("_type", "Goal")])
    assert {e["type"] for e in manifest["output"]} == {"Patient", "Immunization", "Goal"}
    assert Counter(r["resourceType"] for r in found) == {t: counts[t] for t in ("Patient", "Immunization", "Goal")}


def _codes(resource: Json) -> set[str]:
    return {f"{c.get('system')}|{c.get('code')}" for c in resource.get("code", {}).get("coding", [])}


def test_type_filter_narrows_its_type_only(bulk: Bulk) -> None:
    expected = expected_resources(raw_bundles())
    observations = [r for (t, _), r in expected.items() if t == "Observation"]
    common = Counter(c for r in observations for c in _codes(r)).most_common(2)
    (c1, _), (c2, _) = common
    conditions = {k for k in expected if k[0] == "Condition"}

    _, found = bulk.export("/$export", params={"_type": "Observation,Condition",
                                               "_typeFilter": f"Observation?code={c1}"})
    assert {k for k in keys(found) if k[0] == "Observation"} == {
        ("Observation", r["id"]) for r in observations if c1 in _codes(r)}
    assert {k for k in keys(found) if k[0] == "Condition"} == conditions

    either = {("Observation", r["id"]) for r in observations if _codes(r) & {c1, c2}}
    for params in ([("_type", "Observation"), ("_typeFilter", f"Observation?code={c1},Observation?code={c2}")],
                   [("_type", "Observation"), ("_typeFilter", f"Observation?code={c1}"),
                    ("_typeFilter", f"Observation?code={c2}")],
                   [("_type", "Observation"), ("_typeFilter", f"Observation?code={c1},{c2}")]):
        _, found = bulk.export("/$export", params=params)
        assert set(keys(found)) == either, params


@pytest.mark.parametrize("fmt", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
def test_output_formats_named_by_the_ig_are_accepted(bulk: Bulk, fmt: str) -> None:
    _, found = bulk.export("/$export", params={"_type": "Goal", "_outputFormat": fmt})
    assert len(found) == sum(1 for t, _ in expected_resources(raw_bundles()) if t == "Goal")


def test_delete_cancels_and_removes_the_job(bulk: Bulk, synthea_server: LiveServer) -> None:
    url = bulk.kick_off("/$export")
    job_id = url.rsplit("/", 1)[1]
    resp = bulk.client.delete(url, headers=bulk.headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["resourceType"] == "OperationOutcome"
    assert bulk.client.get(url, headers=bulk.headers).status_code == 404
    assert bulk.client.delete(url, headers=bulk.headers).status_code == 404
    assert synthea_server.db.execute("SELECT count(*) FROM bulk_part WHERE job_id = %s", (job_id,)) == [(0,)]

    done = bulk.kick_off("/$export", params={"_type": "Goal"})
    manifest = bulk.manifest(done)
    assert bulk.client.delete(done, headers=bulk.headers).status_code == 202
    assert bulk.client.get(manifest["output"][0]["url"], headers=bulk.headers).status_code == 404
