"""What a Bulk Data server refuses (Bulk Data IG 2.0 export.html, "Response - Error"): a 4xx OperationOutcome at
kick-off for what it cannot honour, or the request processed under ``Prefer: handling=lenient``; unknown jobs
and files are 404s."""

from __future__ import annotations

import pytest

from tests.extensions.bulk.conftest import Bulk
from tests.helpers import FHIR_JSON, assert_outcome

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.mark.parametrize(("path", "params"), [
    ("/$export", {"_outputFormat": "application/fhir+json"}),
    ("/$export", {"_type": "NotAType"}),
    ("/$export", {"_type": ","}),
    ("/$export", {"_since": "last tuesday"}),
    ("/$export", {"_elements": "id"}),
    ("/$export", {"includeAssociatedData": "LatestProvenanceResources"}),
    ("/$export", {"_until": "2020-01-01"}),
    ("/$export", {"patient": "Patient/x"}),
    ("/$export", {"_type": "Observation", "_typeFilter": "Observation?code=x&_sort=date"}),
    ("/$export", {"_type": "Observation", "_typeFilter": "Observation?no-such-param=1"}),
    ("/$export", {"_type": "Observation", "_typeFilter": "Condition?code=x"}),
    ("/$export", {"_typeFilter": "code=x"}),
    ("/$export", {"_typeFilter": "Observation?date=not-a-date"}),
    ("/Patient/$export", {"_type": "Organization"}),
    ("/Patient/$export", {"patient": "Patient/no-such-patient"}),
    ("/Patient/$export", {"patient": "Observation/1"}),
])
def test_kick_off_refuses_what_it_cannot_honour(bulk: Bulk, path: str, params: dict[str, str]) -> None:
    assert_outcome(bulk.client.get(path, params=params, headers=ASYNC), 400)


def test_lenient_handling_leaves_out_what_it_cannot_honour(bulk: Bulk) -> None:
    resp = bulk.client.get("/Patient/$export", params={"_type": "Goal,Organization", "_elements": "id"},
                           headers={**ASYNC, "Prefer": "respond-async, handling=lenient"})
    assert resp.status_code == 202, resp.text
    notes = [i["diagnostics"] for i in resp.json()["issue"] if i["severity"] == "warning"]
    assert any("Organization" in n for n in notes) and any("_elements" in n for n in notes)
    manifest = bulk.manifest(resp.headers["content-location"])
    assert {e["type"] for e in manifest["output"]} == {"Goal"}
    reported = [o["issue"][0]["diagnostics"] for e in manifest["error"] for o in bulk.lines(e["url"])]
    assert len(reported) == 2 and any("Organization" in r for r in reported) and any("_elements" in r for r in reported)


def test_unknown_targets(bulk: Bulk) -> None:
    assert_outcome(bulk.client.get("/Group/no-such-group/$export", headers=ASYNC), 404)
    assert_outcome(bulk.client.get("/Observation/$export", headers=ASYNC), 404)
    assert_outcome(bulk.client.get("/bulk/0123456789abcdef0123456789abcdef", headers=ASYNC), 404)
    assert_outcome(bulk.client.delete("/bulk/0123456789abcdef0123456789abcdef", headers=ASYNC), 404)
    assert_outcome(bulk.client.get("/bulk/not-a-job", headers=ASYNC), 404)
    url = bulk.kick_off("/$export", params={"_type": "Goal"})
    bulk.manifest(url)
    for name in ("99.ndjson", "1.json", "x.ndjson", "-1.ndjson"):
        assert_outcome(bulk.client.get(f"{url}/{name}", headers=ASYNC), 404)


def test_post_kick_off_with_parameters(bulk: Bulk) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "_type", "valueString": "Goal"},
                                                        {"name": "_outputFormat", "valueString": "ndjson"}]}
    _, found = bulk.export("/$export", body=body)
    assert {r["resourceType"] for r in found} == {"Goal"}
    assert_outcome(bulk.client.post("/$export", json={"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueInteger": 3}]}, headers={**ASYNC, **FHIR_JSON}), 400)
