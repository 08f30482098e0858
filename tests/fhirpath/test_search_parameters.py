"""Every official R4 SearchParameter expression compiles (strict where the spec's own paths allow it)
and evaluates on the HL7 examples, yielding the values the examples hold."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server import definitions, fhirpath
from tests.fhirpath.hl7_suite import load_input


def _expressions() -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for sp in definitions.search_parameters():
        if sp.get("expression"):
            out.extend((sp["id"], base, sp["expression"]) for base in sp["base"])
    return out


EXPRESSIONS = _expressions()


def _by_id(sp_id: str, base: str) -> fhirpath.Expression:
    expr = next(e for i, b, e in EXPRESSIONS if i == sp_id and b == base)
    return fhirpath.compile(expr, base)


def test_all_search_parameter_expressions_compile() -> None:
    failures = []
    for sp_id, base, expr in EXPRESSIONS:
        try:
            fhirpath.compile(expr, base)
        except fhirpath.FHIRPathError as e:
            failures.append(f"{sp_id} on {base}: {e}")
    assert not failures
    assert len({i for i, _, _ in EXPRESSIONS}) == 1372  # 1,375 parameters, 3 without an expression


EXAMPLES = ["patient-example.xml", "observation-example.xml", "questionnaire-example.xml",
            "valueset-example-expansion.xml", "appointment-examplereq.json"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_all_expressions_of_the_type_evaluate(name: str) -> None:
    resource = load_input(name)
    rtype = resource["resourceType"]
    count = 0
    for _, base, expr in EXPRESSIONS:
        if base == rtype:
            fhirpath.compile(expr, base).evaluate(resource)
            count += 1
    assert count > 0


def test_values_from_the_examples() -> None:
    obs: dict[str, Any] = load_input("observation-example.xml")
    pat: dict[str, Any] = load_input("patient-example.xml")
    assert _by_id("clinical-code", "Observation").evaluate(obs) == [obs["code"]]
    assert _by_id("clinical-patient", "Observation").evaluate(obs) == [obs["subject"]]  # Patient/example
    assert _by_id("Observation-value-quantity", "Observation").evaluate(obs) == [obs["valueQuantity"]]
    typed = _by_id("clinical-date", "Observation").evaluate_typed(obs)
    assert [(t.type, t.value) for t in typed] == [("dateTime", "2016-03-28")]
    assert _by_id("individual-birthdate", "Patient").evaluate(pat) == ["1974-12-25"]
    # `Patient.name.given | Practitioner.name.given`: a union, so without duplicates
    assert _by_id("individual-given", "Patient").evaluate(pat) == ["Peter", "James", "Jim"]
