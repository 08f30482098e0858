"""Published OperationDefinitions, and client input that must never cause a 500."""

from __future__ import annotations

import httpx
import pytest

from extensions.ai.definitions import SUMMARIZE, TRIAGE
from fhir_server import validation
from tests.extensions.ai.records import create_record
from tests.helpers import FHIR_JSON, assert_outcome


@pytest.mark.parametrize("definition", [SUMMARIZE, TRIAGE])
def test_operation_definitions_are_valid_r4(definition: dict) -> None:
    errors = [i for i in validation.validate(definition) if i.severity in ("error", "fatal")]
    assert errors == []


def test_capability_statement_names_the_operations(client: httpx.Client) -> None:
    rest = client.get("/metadata").json()["rest"][0]
    ops = {r["type"]: {o["name"]: o["definition"] for o in r.get("operation", [])} for r in rest["resource"]}
    assert ops["Patient"]["summarize"] == "urn:fhir-server:OperationDefinition:summarize"
    assert ops["Encounter"]["summarize"] == "urn:fhir-server:OperationDefinition:summarize"
    assert ops["Patient"]["triage"] == "urn:fhir-server:OperationDefinition:triage"
    assert "triage" not in ops["Encounter"]


@pytest.mark.parametrize(("params", "status"), [
    ({"start": "yesterday"}, 400),
    ({"end": "2024-13-45"}, 400),
    ({"start": "2024-05-01", "end": "2024-01-01"}, 400),
    ({"audience": "robots"}, 400),
    ({"mode": "psychic"}, 400),
    ({"persist": "maybe"}, 400),
    ({"shiftDates": "perhaps"}, 400),
    ({"colour": "blue"}, 400),
    ({"persist": "true"}, 405),
    ({"mode": "model"}, 501),  # no model configured on this server
])
def test_bad_summarize_input_is_a_4xx(client: httpx.Client, params: dict, status: int) -> None:
    pid, _ = create_record(client)
    assert_outcome(client.get(f"/Patient/{pid}/$summarize", params=params), status)


def test_bad_summarize_targets_and_bodies(client: httpx.Client) -> None:
    pid, _ = create_record(client)
    assert_outcome(client.get("/Patient/does-not-exist/$summarize"), 404)
    assert_outcome(client.get("/Observation/x/$summarize"), 404)  # not defined on Observation
    assert_outcome(client.get("/Patient/$summarize"), 404)  # instance level only
    twice = {"resourceType": "Parameters", "parameter": [{"name": "audience", "valueCode": "patient"},
                                                          {"name": "audience", "valueCode": "clinician"}]}
    assert_outcome(client.post(f"/Patient/{pid}/$summarize", json=twice, headers=FHIR_JSON), 400)
    wrong = {"resourceType": "Parameters", "parameter": [{"name": "start", "valueInteger": 7}]}
    assert_outcome(client.post(f"/Patient/{pid}/$summarize", json=wrong, headers=FHIR_JSON), 400)
    subjectless = client.post("/Encounter", json={"resourceType": "Encounter", "status": "finished", "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}, headers=FHIR_JSON).json()
    assert_outcome(client.get(f"/Encounter/{subjectless['id']}/$summarize"), 422)
