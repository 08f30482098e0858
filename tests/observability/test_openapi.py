"""/openapi.json: a valid OpenAPI 3 document (checked by openapi-spec-validator) of the FHIR REST API as the
CapabilityStatement declares it: interactions per type (R4 http.html#summary), search parameters, operations."""

from __future__ import annotations

from typing import Any

import httpx
from openapi_spec_validator import validate

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON

METHODS = {"read": ("/{T}/{{id}}", "get"), "vread": ("/{T}/{{id}}/_history/{{vid}}", "get"),
           "update": ("/{T}/{{id}}", "put"), "patch": ("/{T}/{{id}}", "patch"), "delete": ("/{T}/{{id}}", "delete"),
           "history-instance": ("/{T}/{{id}}/_history", "get"), "history-type": ("/{T}/_history", "get"),
           "create": ("/{T}", "post"), "search-type": ("/{T}", "get")}


def _param_names(doc: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    names = set()
    for p in operation.get("parameters", []):
        if "$ref" in p:
            p = doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]]
        names.add(p["name"])
    return names


def test_the_document_is_valid_openapi_3(client: httpx.Client) -> None:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["openapi"].startswith("3.")
    validate(doc)
    assert doc["servers"] == [{"url": str(client.base_url).rstrip("/")}]


def test_paths_follow_the_capability_statement(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    statement = client.get("/metadata").json()
    rest = statement["rest"][0]
    assert len(rest["resource"]) == 146  # every R4 resource type
    for resource in rest["resource"]:
        t = resource["type"]
        for interaction in resource["interaction"]:
            template, method = METHODS[interaction["code"]]
            path = template.format(T=t)
            assert method in doc["paths"][path], (t, interaction["code"])
        if "searchParam" in resource:
            declared = {p["name"] for p in resource["searchParam"]}
            assert declared <= _param_names(doc, doc["paths"][f"/{t}"]["get"]), t
        for op in resource.get("operation", []):
            assert f"/{t}/${op['name']}" in doc["paths"] or f"/{t}/{{id}}/${op['name']}" in doc["paths"], op
    for op in rest.get("operation", []):
        assert f"/${op['name']}" in doc["paths"], op
    assert {"get", "post"} <= set(doc["paths"]["/"])  # search-system; batch/transaction
    assert "get" in doc["paths"]["/_history"] and "get" in doc["paths"]["/metadata"]


def test_spec_facts_about_patient(client: httpx.Client) -> None:
    """From R4 patient.html: search parameters birthdate, family, gender, identifier; operation $everything on an
    instance; the Patient compartment (compartmentdefinition-patient) holds Observation but not Organization."""
    doc = client.get("/openapi.json").json()
    search = _param_names(doc, doc["paths"]["/Patient"]["get"])
    assert {"birthdate", "family", "gender", "identifier", "_id", "_lastUpdated", "_count"} <= search
    everything = doc["paths"]["/Patient/{id}/$everything"]
    assert {"get", "post"} <= set(everything)
    assert {"start", "end", "_since"} <= _param_names(doc, everything["get"])
    compartment = doc["paths"]["/Patient/{id}/{type}"]["get"]
    kinds = next(p for p in compartment["parameters"] if p["name"] == "type")["schema"]["enum"]
    assert {"Observation", "Encounter", "Condition"} <= set(kinds) and "Organization" not in kinds
    schema = doc["components"]["schemas"]["Patient"]
    assert {"birthDate", "deceasedBoolean", "deceasedDateTime", "name"} <= set(schema["properties"])
    assert schema["properties"]["name"]["type"] == "array"
    assert schema["properties"]["active"] == {"type": "boolean"}
    assert "$validate" in doc["paths"]["/Patient/$validate"]["post"]["summary"]


def test_a_new_search_parameter_appears_in_the_document(fresh: LiveServer) -> None:
    with fresh.client() as client:
        before = client.get("/openapi.json").json()
        assert "nickname" not in _param_names(before, before["paths"]["/Patient"]["get"])
        sp = {"resourceType": "SearchParameter", "url": "http://example.org/SearchParameter/patient-nickname",
              "name": "nickname", "status": "active", "description": "A patient's nickname", "code": "nickname",
              "base": ["Patient"], "type": "string", "expression": "Patient.name.where(use = 'nickname').given"}
        assert client.post("/SearchParameter", json=sp, headers=FHIR_JSON).status_code == 201
        after = client.get("/openapi.json").json()
        assert "nickname" in _param_names(after, after["paths"]["/Patient"]["get"])
