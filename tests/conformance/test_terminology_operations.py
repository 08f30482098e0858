"""Terminology operations over HTTP (R4 terminology-service.html): $expand, $lookup, $validate-code,
$subsumes, over the shipped R4 content and CodeSystems/ValueSets posted to the server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.helpers import FHIR_JSON, assert_outcome

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER = "http://hl7.org/fhir/administrative-gender"
ACT_MOOD = "http://terminology.hl7.org/CodeSystem/v3-ActMood"


def _params(body: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: next(v for k, v in p.items() if k != "name") for p in body["parameter"]}


def test_expand_with_filter_count_and_offset(client: httpx.Client) -> None:
    full = client.get("/ValueSet/$expand", params={"url": GENDER_VS}).json()
    assert full["expansion"]["total"] == 4  # administrative-gender: male, female, other, unknown
    codes = {c["code"]: c.get("display") for c in full["expansion"]["contains"]}
    assert codes == {"male": "Male", "female": "Female", "other": "Other", "unknown": "Unknown"}
    one = client.get("/ValueSet/$expand", params={"url": GENDER_VS, "filter": "fem"}).json()
    assert [c["code"] for c in one["expansion"]["contains"]] == ["female"]
    page = client.get("/ValueSet/$expand", params={"url": GENDER_VS, "count": "2", "offset": "1"}).json()
    assert page["expansion"]["total"] == 4 and page["expansion"]["offset"] == 1
    assert len(page["expansion"]["contains"]) == 2


def test_expand_errors(client: httpx.Client) -> None:
    assert_outcome(client.get("/ValueSet/$expand"), 400)
    assert_outcome(client.get("/ValueSet/$expand", params={"url": "http://example.org/nope"}), 404)
    # all of UCUM: not held in full, so it is not expanded (no guessing)
    assert_outcome(client.get("/ValueSet/$expand", params={"url": "http://hl7.org/fhir/ValueSet/ucum-units"}), 422)
    assert_outcome(client.get("/ValueSet/$expand", params={"url": GENDER_VS, "count": "-1"}), 400)


def test_expand_integer_parameters_stay_in_the_fhir_integer_range(client: httpx.Client) -> None:
    # R4 datatypes.html: integer is a 32-bit signed value written -?([0]|([1-9][0-9]*)); anything else is a 400
    for name in ("offset", "count"):
        for value in ("99999999999999999999", "2147483648", "\u00b2", "1e3", "01"):
            assert_outcome(client.get("/ValueSet/$expand", params={"url": GENDER_VS, name: value}), 400)
    body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": GENDER_VS},
                                                        {"name": "offset", "valueInteger": 99999999999999999999}]}
    assert_outcome(client.post("/ValueSet/$expand", json=body, headers=FHIR_JSON), 400)
    edge = client.get("/ValueSet/$expand", params={"url": GENDER_VS, "offset": "2147483647"}).json()
    assert edge["expansion"]["total"] == 4 and edge["expansion"].get("contains", []) == []


def test_lookup_validate_code_subsumes(client: httpx.Client) -> None:
    found = _params(client.get("/CodeSystem/$lookup", params={"system": GENDER, "code": "male"}).json())
    assert found["display"] == "Male"
    assert_outcome(client.get("/CodeSystem/$lookup", params={"system": GENDER, "code": "nope"}), 404)
    ok = _params(
        client.get("/ValueSet/$validate-code", params={"url": GENDER_VS, "system": GENDER, "code": "male"}).json()
    )
    assert ok["result"] is True and ok["display"] == "Male"
    bad = _params(
        client.get("/ValueSet/$validate-code", params={"url": GENDER_VS, "system": GENDER, "code": "x"}).json()
    )
    assert bad["result"] is False and "message" in bad
    wrong = {"url": GENDER_VS, "system": GENDER, "code": "male", "display": "Man"}
    assert _params(client.get("/ValueSet/$validate-code", params=wrong).json())["result"] is False
    # v3 ActMood: INT (intent) subsumes RQO (request) (v3 hierarchy)
    out = _params(
        client.get("/CodeSystem/$subsumes", params={"system": ACT_MOOD, "codeA": "INT", "codeB": "RQO"}).json()
    )
    assert out["outcome"] == "subsumes"
    assert_outcome(client.get("/CodeSystem/$subsumes", params={"system": ACT_MOOD, "codeA": "INT"}), 400)


def test_posted_code_system_and_value_set_are_used_at_once(client: httpx.Client) -> None:
    n = uuid.uuid4().hex[:8]
    cs_url, vs_url = f"http://example.org/cs/{n}", f"http://example.org/vs/{n}"
    cs = {
        "resourceType": "CodeSystem",
        "url": cs_url,
        "status": "active",
        "content": "complete",
        "concept": [
            {
                "code": "fruit",
                "display": "Fruit",
                "concept": [{"code": "apple", "display": "Apple"}, {"code": "pear", "display": "Pear"}],
            },
            {"code": "stone", "display": "Stone"},
        ],
    }
    vs = {
        "resourceType": "ValueSet",
        "url": vs_url,
        "status": "active",
        "compose": {
            "include": [{"system": cs_url, "filter": [{"property": "concept", "op": "is-a", "value": "fruit"}]}]
        },
    }
    assert client.post("/CodeSystem", json=cs, headers=FHIR_JSON).status_code == 201
    created = client.post("/ValueSet", json=vs, headers=FHIR_JSON)
    assert created.status_code == 201
    got = client.get("/ValueSet/$expand", params={"url": vs_url}).json()
    assert sorted(c["code"] for c in got["expansion"]["contains"]) == ["apple", "fruit", "pear"]
    by_id = client.get(f"/ValueSet/{created.json()['id']}/$expand").json()
    assert by_id["expansion"]["total"] == 3
    sub = _params(
        client.get("/CodeSystem/$subsumes", params={"system": cs_url, "codeA": "fruit", "codeB": "pear"}).json()
    )
    assert sub["outcome"] == "subsumes"
    # token :in search uses the posted value set too
    tag = uuid.uuid4().hex
    for code in ("apple", "stone"):
        obs = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": cs_url, "code": code}]},
            "identifier": [{"system": "urn:test:tx", "value": tag}],
        }
        client.post("/Observation", json=obs, headers=FHIR_JSON).raise_for_status()
    found = client.get("/Observation", params={"code:in": vs_url, "identifier": f"urn:test:tx|{tag}"}).json()
    assert [e["resource"]["code"]["coding"][0]["code"] for e in found.get("entry", [])] == ["apple"]
    # an inline value set in a POST
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "valueSet", "resource": {**vs, "url": vs_url + "-b"}},
            {"name": "filter", "valueString": "pe"},
        ],
    }
    inline = client.post("/ValueSet/$expand", json=body, headers=FHIR_JSON).json()
    assert [c["code"] for c in inline["expansion"]["contains"]] == ["pear"]


def test_posted_code_system_hierarchy_serves_below_search(client: httpx.Client) -> None:
    n = uuid.uuid4().hex[:8]
    cs_url = f"http://example.org/cs/below-{n}"
    cs = {
        "resourceType": "CodeSystem",
        "url": cs_url,
        "status": "active",
        "content": "complete",
        "concept": [{"code": "animal", "concept": [{"code": "dog"}, {"code": "cat"}]}, {"code": "rock"}],
    }
    client.post("/CodeSystem", json=cs, headers=FHIR_JSON).raise_for_status()
    tag = uuid.uuid4().hex
    for code in ("dog", "rock"):
        obs = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": cs_url, "code": code}]},
            "identifier": [{"system": "urn:test:below", "value": tag}],
        }
        client.post("/Observation", json=obs, headers=FHIR_JSON).raise_for_status()
    found = client.get("/Observation", params={"code:below": f"{cs_url}|animal", "identifier": f"urn:test:below|{tag}"})
    assert [e["resource"]["code"]["coding"][0]["code"] for e in found.json().get("entry", [])] == ["dog"]
