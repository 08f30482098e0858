"""Client input never breaks the validator (DESIGN.md: no 500 on client input): every element of
valid resources replaced, in turn, by values of the wrong JSON type, validated against their base
definition and a profile; and a few such bodies through $validate over HTTP."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.validation import validate
from tests.helpers import FHIR_JSON
from tests.validation.conftest import hl7_examples

WRONG: list[Any] = ["x", 7, 1.5, True, None, [], {}, ["x"], [{}], {"x": 1}, [None], {"resourceType": "Patient"}]
SAMPLES = [
    "Patient-example.json",
    "Observation-blood-pressure.json",
    "Bundle-bundle-transaction.json",
    "Questionnaire-f201.json",
    "Condition-example.json",
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "resourceType" or path:
                yield (*path, k)
                yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i)
            yield from _paths(v, (*path, i))


def _replace(resource: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return out


@pytest.mark.parametrize("name", SAMPLES)
def test_wrong_json_types_anywhere_never_crash(name: str) -> None:
    resource = hl7_examples()[name]
    profiles = ["http://hl7.org/fhir/StructureDefinition/bp"] if resource["resourceType"] == "Observation" else []
    count = 0
    for i, path in enumerate(_paths(resource)):
        new = WRONG[i % len(WRONG)]
        issues = validate(_replace(resource, path, new), profiles=profiles)
        assert all(i.severity in ("error", "warning", "information", "fatal") for i in issues)
        count += 1
    assert count > 10


def test_broken_bodies_through_validate_are_not_500(client: httpx.Client) -> None:
    resource = hl7_examples()["Observation-blood-pressure.json"]
    for i, path in enumerate(list(_paths(resource))[:60]):
        body = _replace(resource, path, WRONG[i % len(WRONG)])
        resp = client.post("/Observation/$validate", json=body, headers=FHIR_JSON)
        assert resp.status_code in (200, 400), (path, resp.text)
