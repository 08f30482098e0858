"""The validator over real data: every Synthea resource is valid, and of the 714 HL7 R4 examples exactly
the ones that break an R4 rule are rejected, each for the reason checked by hand (see the report)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.validation import Issue, validate

# File → the (code, expression) of every issue. Each was checked against the example's text:
REJECTED: dict[str, set[tuple[str, str]]] = {
    # txt-2 "The narrative SHALL have some non-whitespace content": the div holds only whitespace
    "ActivityDefinition-blood-tubes-supply.json": {("value", "ActivityDefinition.text.div")},
    "ActivityDefinition-heart-valve-replacement.json": {("value", "ActivityDefinition.text.div")},
    "EventDefinition-example.json": {("value", "EventDefinition.text.div")},
    # ...only an empty <pre> element with whitespace in it
    "Questionnaire-zika-virus-exposure-assessment.json": {("value", "Questionnaire.text.div")},
    # Questionnaire.item.linkId is 1..1, and the nested display items have no linkId (see below)
    "Questionnaire-qs1.json": set(),
}


def _keys(issues: list[Issue]) -> set[tuple[str, str]]:
    return {(i.code, i.expression) for i in issues}


def test_exactly_the_invalid_hl7_examples_are_rejected(examples: dict[str, Any]) -> None:
    assert len(examples) == 714
    rejected = {name for name, resource in examples.items() if validate(resource)}
    assert rejected == set(REJECTED)


@pytest.mark.parametrize("name", sorted(n for n, v in REJECTED.items() if v))
def test_rejection_reasons(examples: dict[str, Any], name: str) -> None:
    assert _keys(validate(examples[name])) == REJECTED[name]


def test_questionnaire_qs1_items_without_link_id(examples: dict[str, Any]) -> None:
    resource = examples["Questionnaire-qs1.json"]
    missing: set[tuple[str, str]] = set()
    _items_without_link_id(resource["item"], "Questionnaire.item", missing)
    issues = validate(resource)
    assert missing and _keys(issues) == missing
    assert all(i.message == "Missing required element 'linkId'" for i in issues)


def _items_without_link_id(items: list[dict[str, Any]], path: str, out: set[tuple[str, str]]) -> None:
    for i, item in enumerate(items):
        if "linkId" not in item:
            out.add(("required", f"{path}[{i}].linkId"))
        _items_without_link_id(item.get("item", []), f"{path}[{i}].item", out)


def test_every_synthea_resource_and_bundle_is_valid(bundles: dict[str, Any]) -> None:
    assert bundles
    for name, bundle in bundles.items():
        assert validate(bundle) == [], name
        for entry in bundle["entry"]:
            assert validate(entry["resource"]) == [], (name, entry.get("fullUrl"))

