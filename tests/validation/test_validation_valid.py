"""Valid edge cases the validator must accept (json.html, datatypes.html), and its OperationOutcome."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.validation import STRUCTURAL_CODES, Issue, has_errors, to_operation_outcome, validate

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
EXT = "http://example.org/ext"
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
COND = {"resourceType": "Condition", "subject": {"reference": "Patient/1"}}


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **extra}


VALID: list[tuple[str, dict[str, Any]]] = [
    ("empty Patient", _patient()),
    ("Parameters with no parameter", {"resourceType": "Parameters"}),
    # primitive extensions (json.html#primitive)
    (
        "value and _value",
        _patient(
            birthDate="1970-03-30",
            _birthDate={
                "id": "b",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                        "valueDateTime": "1970-03-30T14:00:00Z",
                    }
                ],
            },
        ),
    ),
    (
        "_value without value",
        _patient(
            _gender={
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown",
                    }
                ]
            }
        ),
    ),
    (
        "aligned nulls",
        _patient(
            name=[
                {
                    "given": ["Ann", None, "Lee"],
                    "_given": [None, {"extension": [{"url": EXT, "valueString": "x"}]}, None],
                }
            ]
        ),
    ),
    ("_array alone", _patient(name=[{"_given": [{"id": "g1"}, {"id": "g2"}]}])),
    (
        "required element present only as _x",
        {
            "resourceType": "Observation",
            "code": {"text": "x"},
            "_status": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown",
                    }
                ]
            },
        },
    ),
    ("_x of a choice with its value", {**OBS, "valueString": "a", "_valueString": {"id": "v"}}),
    # choice types
    (
        "valueQuantity",
        {
            **OBS,
            "valueQuantity": {
                "value": 5.4,
                "unit": "mmol/L",
                "system": "http://unitsofmeasure.org",
                "code": "mmol/L",
                "comparator": "<",
            },
        },
    ),
    ("valueCodeableConcept", {**OBS, "valueCodeableConcept": {"text": "positive"}}),
    (
        "effectivePeriod",
        {**OBS, "effectivePeriod": {"start": "2020-01-01", "end": "2020-01-02T10:00:00+14:00"}},
    ),
    ("deceasedDateTime alone", _patient(deceasedDateTime="2020")),
    # contained, nested resources
    (
        "contained resources",
        _patient(
            contained=[
                {"resourceType": "Organization", "id": "o1", "name": "Acme"},
                {"resourceType": "Practitioner", "id": "p1"},
            ],
            managingOrganization={"reference": "#o1"},
            generalPractitioner=[{"reference": "#p1"}],
        ),
    ),
    (
        "Bundle with resources and an outcome",
        {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {"resource": _patient(id="a"), "response": {"status": "201 Created"}},
                {
                    "response": {
                        "status": "400 Bad Request",
                        "outcome": {
                            "resourceType": "OperationOutcome",
                            "issue": [
                                {"severity": "error", "code": "structure", "expression": ["Patient.foo"]}
                            ],
                        },
                    }
                },
            ],
        },
    ),
    (
        "Parameters with a resource",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "return", "resource": _patient(gender="female")},
                {"name": "part", "part": [{"name": "x", "valueInteger": -3}]},
            ],
        },
    ),
    # primitive values
    ("leap day", _patient(birthDate="2000-02-29")),
    ("partial dates", _patient(birthDate="1980-05", deceasedDateTime="2021")),
    ("year-only date", _patient(birthDate="1980")),
    ("instant with fraction and offset", {**OBS, "issued": "2013-04-03T15:30:10.123-05:00"}),
    ("leap second", {**OBS, "issued": "2016-12-31T23:59:60Z"}),
    (
        "decimal written as integer and with exponent",
        {
            **OBS,
            "valueQuantity": {"value": 5},
            "referenceRange": [{"low": {"value": 1.5e2}, "high": {"value": -0.0}}],
        },
    ),
    (
        "integer extremes",
        _patient(
            extension=[
                {"url": EXT, "valueInteger": -(2**31)},
                {"url": EXT, "valueInteger": 2**31 - 1},
                {"url": EXT, "valueUnsignedInt": 0},
                {"url": EXT, "valuePositiveInt": 1},
            ]
        ),
    ),
    ("string with inner whitespace and newlines", _patient(name=[{"text": "  Ann \n Lee\t"}])),
    (
        "non-ASCII text and uri",
        _patient(name=[{"family": "Müller\u00a0SS"}], implicitRules="http://例え.jp/ü"),
    ),
    ("code with single inner spaces", {**OBS, "code": {"coding": [{"code": "a b c"}]}}),
    (
        "base64 with whitespace and padding",
        _patient(photo=[{"data": "SGVs\nbG8=", "contentType": "text/plain"}]),
    ),
    ("id of 64 characters", _patient(id="A-b.9" * 12 + "abcd")),
    (
        "oid, uuid, time, url, canonical",
        _patient(
            extension=[
                {"url": EXT, "valueOid": "urn:oid:2.16.840.1.113883"},
                {"url": EXT, "valueUuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
                {"url": EXT, "valueTime": "23:59:59.5"},
                {"url": EXT, "valueUrl": "http://example.org/a?b=c"},
                {"url": EXT, "valueCanonical": "http://hl7.org/fhir/ValueSet/languages|4.0.1"},
            ]
        ),
    ),
    (
        "narrative with entities, comments, nesting, img",
        _patient(
            text={
                "status": "generated",
                "div": (
                    f'<div {XHTML}>\n  <!-- c -->\n  <p class="x">A &amp; B &lt; C &#169; &#x00A9;</p>'
                    '<table><tr><td>1</td></tr></table><img src="#a" alt=""/><br/></div>'
                ),
            }
        ),
    ),
    (
        "image-only narrative",
        _patient(text={"status": "generated", "div": f'<div {XHTML}><img src="#a"/></div>'}),
    ),
    # extensions
    (
        "complex extension",
        _patient(
            extension=[
                {
                    "url": EXT,
                    "extension": [{"url": "a", "valueString": "x"}, {"url": "b", "valueBoolean": False}],
                }
            ]
        ),
    ),
    ("modifierExtension", _patient(modifierExtension=[{"url": EXT, "valueBoolean": True}])),
    # required bindings
    (
        "codes in required value sets",
        _patient(gender="unknown", link=[{"other": {"reference": "Patient/2"}, "type": "seealso"}]),
    ),
    (
        "one coding from the value set is enough",
        {
            **COND,
            "clinicalStatus": {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "55561003"},
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"},
                ]
            },
        },
    ),
    (
        "required binding to an external value set is skipped",
        _patient(photo=[{"contentType": "application/x-anything"}]),
    ),
    (
        "extensible binding is not enforced",
        _patient(maritalStatus={"coding": [{"system": "http://example.org/ms", "code": "zz"}]}),
    ),
    ("preferred binding is not enforced", _patient(language="xx-YY")),
]


@pytest.mark.parametrize("resource", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_resource(resource: dict[str, Any]) -> None:
    assert validate(resource) == []


def test_operation_outcome_of_issues() -> None:
    issues = validate({"resourceType": "Patient", "gender": "xyz", "foo": 1})
    oo = to_operation_outcome(issues)
    assert oo["resourceType"] == "OperationOutcome"
    assert {(i["severity"], i["code"], i["expression"][0]) for i in oo["issue"]} == {
        ("error", "code-invalid", "Patient.gender"),
        ("error", "structure", "Patient.foo"),
    }
    assert all(i["diagnostics"] for i in oo["issue"])
    assert validate(oo) == []  # the outcome is itself a valid R4 OperationOutcome


def test_operation_outcome_without_issues_is_valid() -> None:
    oo = to_operation_outcome([])
    assert [i["severity"] for i in oo["issue"]] == ["information"]
    assert validate(oo) == []


def test_structural_split() -> None:
    def codes(resource: Any) -> list[tuple[str, bool]]:
        return [(i.code, i.structural) for i in validate(resource)]

    assert codes({"resourceType": "Patient", "foo": 1}) == [("structure", True)]
    assert codes({"resourceType": "Patient", "birthDate": "x"}) == [("value", True)]
    assert codes({"resourceType": "Observation", "code": {"text": "x"}}) == [("required", True)]
    assert codes({"resourceType": "Patient", "gender": "xyz"}) == [("code-invalid", False)]
    assert codes({"resourceType": "Patient", "extension": [{"url": EXT}]}) == [("invariant", False)]
    assert "code-invalid" not in STRUCTURAL_CODES


def test_has_errors() -> None:
    assert not has_errors([])
    assert has_errors([Issue("error", "structure", "m", "Patient")])
    assert not has_errors([Issue("warning", "code-invalid", "m", "Patient")])
