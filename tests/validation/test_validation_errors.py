"""Hand-written invalid resources: each breaks one rule of json.html / datatypes.html / the R4
StructureDefinitions, and the test names the exact issues (IssueType code, FHIRPath) expected."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.validation import validate

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
COND = {"resourceType": "Condition", "subject": {"reference": "Patient/1"}}
EXT = "http://example.org/ext"


def _with(base: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**base, **extra}


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **extra}


CASES: list[tuple[str, Any, set[tuple[str, str]]]] = [
    # resourceType (json.html#resources)
    ("not an object", [], {("structure", "")}),
    ("no resourceType", {"id": "a"}, {("structure", "")}),
    ("unknown resource type", {"resourceType": "Foo"}, {("not-supported", "")}),
    ("abstract resource type", {"resourceType": "DomainResource"}, {("not-supported", "")}),
    ("resourceType not a string", {"resourceType": 7}, {("not-supported", "")}),
    (
        "unknown contained type",
        _patient(contained=[{"resourceType": "Nope", "id": "a"}], managingOrganization={"reference": "#a"}),
        {("not-supported", "Patient.contained[0]")},
    ),
    (
        "entry resource without resourceType",
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "x"}}]},
        {("structure", "Bundle.entry[0].resource")},
    ),
    (
        "bad birthDate inside a bundle entry",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": _patient()},
                {"resource": _patient()},
                {"resource": _patient(birthDate="1980-13-01")},
            ],
        },
        {("value", "Bundle.entry[2].resource.ofType(Patient).birthDate")},
    ),
    (
        "error inside Parameters.parameter.resource",
        {"resourceType": "Parameters", "parameter": [{"name": "p", "resource": _patient(active="yes")}]},
        {("structure", "Parameters.parameter[0].resource.ofType(Patient).active")},
    ),
    (
        "error inside a contained resource",
        _patient(contained=[{"resourceType": "Organization", "id": "o", "name": ""}],
                 managingOrganization={"reference": "#o"}),
        {("value", "Patient.contained[0].ofType(Organization).name")},
    ),
    # unknown elements
    ("unknown element", _patient(foo=1), {("structure", "Patient.foo")}),
    ("wrong case", _patient(BirthDate="1980-01-01"), {("structure", "Patient.BirthDate")}),
    ("wrong choice suffix", _with(OBS, valueFoo="x"), {("structure", "Observation.valueFoo")}),
    ("choice without suffix", _with(OBS, value="x"), {("structure", "Observation.value")}),
    (
        "_x for a complex element",
        _patient(_maritalStatus={"id": "a"}),
        {("structure", "Patient._maritalStatus")},
    ),
    (
        "resourceType inside a datatype",
        _patient(name=[{"resourceType": "HumanName", "family": "F"}]),
        {("structure", "Patient.name[0].resourceType")},
    ),
    (
        "_url on an extension (an XML attribute)",
        _patient(extension=[{"url": EXT, "_url": {"id": "a"}, "valueString": "v"}]),
        {("structure", "Patient.extension[0]._url")},
    ),
    # JSON types and arrays
    ("repeating element as object", _patient(name={"family": "F"}), {("structure", "Patient.name")}),
    ("single element as array", _patient(birthDate=["1980-01-01"]), {("structure", "Patient.birthDate")}),
    (
        "array of primitives as string",
        _patient(name=[{"given": "A"}]),
        {("structure", "Patient.name[0].given")},
    ),
    ("datatype as string", _patient(name=["Ann"]), {("structure", "Patient.name[0]")}),
    ("boolean as string", _patient(active="true"), {("structure", "Patient.active")}),
    ("boolean as number", _patient(active=1), {("structure", "Patient.active")}),
    (
        "decimal as string",
        _with(OBS, valueQuantity={"value": "5.0"}),
        {("structure", "Observation.value.ofType(Quantity).value")},
    ),
    (
        "integer with a fraction",
        _patient(multipleBirthInteger=1.5),
        {("value", "Patient.multipleBirth.ofType(integer)")},
    ),
    ("primitive as object", _patient(gender={"value": "male"}), {("structure", "Patient.gender")}),
    ("_x not an object", _patient(_birthDate="x"), {("structure", "Patient.birthDate")}),
    # null, empty
    ("null", _patient(gender=None), {("structure", "Patient.gender")}),
    ("null in an array of objects", _patient(name=[None]), {("structure", "Patient.name[0]")}),
    (
        "null primitive without _x",
        _patient(name=[{"given": ["A", None]}]),
        {("structure", "Patient.name[0].given[1]")},
    ),
    (
        "null on both sides",
        _patient(name=[{"given": ["A", None], "_given": [None, None]}]),
        {("structure", "Patient.name[0].given[1]")},
    ),
    (
        "misaligned arrays",
        _patient(name=[{"given": ["A", "B"], "_given": [{"id": "g"}]}]),
        {("structure", "Patient.name[0].given")},
    ),
    (
        "trailing null in the longer _x array",
        _patient(name=[{"given": ["a"], "_given": [{"id": "test"}, None]}]),
        {("structure", "Patient.name[0].given")},
    ),
    (
        "null in _x array without values",
        _patient(name=[{"_given": [None]}]),
        {("structure", "Patient.name[0].given[0]")},
    ),
    ("empty array", _patient(name=[]), {("structure", "Patient.name")}),
    ("empty object in array", _patient(name=[{}]), {("structure", "Patient.name[0]")}),
    ("empty object", _patient(maritalStatus={}), {("structure", "Patient.maritalStatus")}),
    (
        "object with only an id (ele-1)",
        _patient(maritalStatus={"id": "m"}),
        {("structure", "Patient.maritalStatus")},
    ),
    (
        "empty _x object",
        _patient(birthDate="1980-01-01", _birthDate={}),
        {("structure", "Patient.birthDate")},
    ),
    ("empty string", _patient(birthDate=""), {("value", "Patient.birthDate")}),
    ("whitespace-only string", _patient(name=[{"family": "   "}]), {("value", "Patient.name[0].family")}),
    # datatypes.html#string: no character below U+0020 but tab, CR and LF, in any string-like primitive
    # DomainResource dom-2 and dom-3 (both severity error in R4)
    (
        "nested contained resources (dom-2)",
        _patient(contained=[{"resourceType": "Patient", "id": "c1",
                             "contained": [{"resourceType": "Patient", "id": "c2"}],
                             "link": [{"other": {"reference": "#c2"}, "type": "seealso"}]}],
                 link=[{"other": {"reference": "#c1"}, "type": "seealso"}]),
        {("invariant", "Patient")},
    ),
    (
        "contained resource nobody refers to (dom-3)",
        _patient(contained=[{"resourceType": "Organization", "id": "o", "name": "x"}]),
        {("invariant", "Patient")},
    ),
    (
        "dom-3 inside a Bundle entry",
        {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:1", "resource": _patient(
            contained=[{"resourceType": "Organization", "id": "o", "name": "x"}])}]},
        {("invariant", "Bundle.entry[0].resource.ofType(Patient)")},
    ),
    ("NUL in a string", _patient(name=[{"family": "a\x00b"}]), {("value", "Patient.name[0].family")}),
    ("control character in a uri", _patient(identifier=[{"system": "urn:\x1f"}]),
     {("value", "Patient.identifier[0].system")}),
    ("control character in a choice value", _with(OBS, valueString="x\x0b"),
     {("value", "Observation.value.ofType(string)")}),
    ("NUL in a code", _patient(gender="male\x00"), {("value", "Patient.gender")}),
    # cardinality
    (
        "missing required element",
        {"resourceType": "Observation", "code": {"text": "x"}},
        {("required", "Observation.status")},
    ),
    (
        "missing required backbone child",
        _patient(link=[{"type": "seealso"}]),
        {("required", "Patient.link[0].other")},
    ),
    (
        "two types for one choice",
        _patient(deceasedBoolean=True, deceasedDateTime="2020"),
        {("structure", "Patient.deceased")},
    ),
    (
        "two types, one as _x only",
        _patient(deceasedBoolean=True, _deceasedDateTime={"extension": [{"url": EXT, "valueString": "x"}]}),
        {("structure", "Patient.deceased")},
    ),
    # primitive formats (datatypes.html)
    ("id with underscore", _patient(id="a_b"), {("value", "Patient.id")}),
    ("id longer than 64", _patient(id="a" * 65), {("value", "Patient.id")}),
    ("no such month", _patient(birthDate="1980-13-01"), {("value", "Patient.birthDate")}),
    ("no such day", _patient(birthDate="1980-04-31"), {("value", "Patient.birthDate")}),
    ("29 February, not a leap year", _patient(birthDate="1900-02-29"), {("value", "Patient.birthDate")}),
    ("date with time", _patient(birthDate="1980-01-01T10:00:00Z"), {("value", "Patient.birthDate")}),
    (
        "dateTime with time but no zone",
        _with(OBS, effectiveDateTime="2020-01-01T10:00:00"),
        {("value", "Observation.effective.ofType(dateTime)")},
    ),
    (
        "dateTime hour without seconds",
        _with(OBS, effectiveDateTime="2020-01-01T10:00Z"),
        {("value", "Observation.effective.ofType(dateTime)")},
    ),
    ("instant without time", _with(OBS, issued="2020-01-01"), {("value", "Observation.issued")}),
    ("instant without zone", _with(OBS, issued="2020-01-01T10:00:00"), {("value", "Observation.issued")}),
    (
        "integer above 32 bits",
        _patient(multipleBirthInteger=2**31),
        {("value", "Patient.multipleBirth.ofType(integer)")},
    ),
    (
        "positiveInt 0",
        {
            "resourceType": "Appointment",
            "status": "booked",
            "minutesDuration": 0,
            "participant": [{"status": "accepted", "actor": {"reference": "Patient/1"}}],
        },
        {("value", "Appointment.minutesDuration")},
    ),
    ("unsignedInt -1", _patient(photo=[{"size": -1}]), {("value", "Patient.photo[0].size")}),
    ("code with a leading space", _patient(gender=" male"), {("value", "Patient.gender")}),
    (
        "code with a double space",
        _with(OBS, code={"coding": [{"code": "a  b"}]}),
        {("value", "Observation.code.coding[0].code")},
    ),
    ("uri with a space", _patient(implicitRules="http://a b"), {("value", "Patient.implicitRules")}),
    ("bad base64", _patient(photo=[{"data": "abc"}]), {("value", "Patient.photo[0].data")}),
    (
        "bad oid",
        _patient(extension=[{"url": EXT, "valueOid": "1.2.3"}]),
        {("value", "Patient.extension[0].value.ofType(oid)")},
    ),
    (
        "bad uuid",
        _patient(extension=[{"url": EXT, "valueUuid": "urn:uuid:ABC"}]),
        {("value", "Patient.extension[0].value.ofType(uuid)")},
    ),
    (
        "bad time",
        _patient(extension=[{"url": EXT, "valueTime": "25:00:00"}]),
        {("value", "Patient.extension[0].value.ofType(time)")},
    ),
    (
        "string over 1 MB",
        _patient(name=[{"text": "x" * (1024 * 1024 + 1)}]),
        {("value", "Patient.name[0].text")},
    ),
    # narrative (narrative.html#xhtml)
    (
        "div without namespace",
        _patient(text={"status": "generated", "div": "<div>x</div>"}),
        {("value", "Patient.text.div")},
    ),
    (
        "script in div",
        _patient(text={"status": "generated", "div": f"<div {XHTML}><script>x()</script></div>"}),
        {("value", "Patient.text.div")},
    ),
    (
        "event attribute",
        _patient(text={"status": "generated", "div": f'<div {XHTML}><p onclick="x()">a</p></div>'}),
        {("value", "Patient.text.div")},
    ),
    (
        "unbalanced tags",
        _patient(text={"status": "generated", "div": f"<div {XHTML}><p>a</div>"}),
        {("value", "Patient.text.div")},
    ),
    (
        "whitespace-only div (txt-2)",
        _patient(text={"status": "generated", "div": f"<div {XHTML}> </div>"}),
        {("value", "Patient.text.div")},
    ),
    (
        "narrative without status",
        _patient(text={"div": f"<div {XHTML}>x</div>"}),
        {("required", "Patient.text.status")},
    ),
    # extensions
    (
        "extension without url",
        _patient(extension=[{"valueString": "x"}]),
        {("required", "Patient.extension[0].url")},
    ),
    (
        "extension with value and extensions",
        _patient(
            extension=[{"url": EXT, "valueString": "x", "extension": [{"url": "a", "valueString": "y"}]}]
        ),
        {("invariant", "Patient.extension[0]")},
    ),
    ("extension with neither", _patient(extension=[{"url": EXT}]), {("invariant", "Patient.extension[0]")}),
    (
        "bad nested extension",
        _patient(extension=[{"url": EXT, "extension": [{"url": "a", "valueFoo": 1}]}]),
        {
            ("structure", "Patient.extension[0].extension[0].valueFoo"),
            ("invariant", "Patient.extension[0].extension[0]"),
        },
    ),
    (
        "primitive extension broken",
        _patient(_birthDate={"extension": [{"valueString": "x"}]}),
        {("required", "Patient.birthDate.extension[0].url")},
    ),
    (
        "array primitive extension broken",
        _patient(name=[{"given": ["A"], "_given": [{"extension": [{"url": EXT}]}]}]),
        {("invariant", "Patient.name[0].given[0].extension[0]")},
    ),
    # required bindings (terminologies.html#required)
    ("code not in required value set", _patient(gender="xyz"), {("code-invalid", "Patient.gender")}),
    (
        "code of a repeating element",
        {
            "resourceType": "SearchParameter",
            "url": "http://example.org/sp",
            "name": "n",
            "status": "draft",
            "description": "d",
            "code": "c",
            "base": ["Patient", "Nope"],
            "type": "token",
        },
        {("code-invalid", "SearchParameter.base[1]")},
    ),
    (
        "code in a datatype",
        _with(OBS, valueQuantity={"value": 1, "comparator": "~"}),
        {("code-invalid", "Observation.value.ofType(Quantity).comparator")},
    ),
    (
        "CodeableConcept with no coding from the value set",
        _with(
            COND,
            clinicalStatus={
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "gone"}
                ]
            },
        ),
        {("code-invalid", "Condition.clinicalStatus")},
    ),
    (
        "CodeableConcept, right code, wrong system",
        _with(COND, clinicalStatus={"coding": [{"system": "http://snomed.info/sct", "code": "active"}]}),
        {("code-invalid", "Condition.clinicalStatus")},
    ),
    (
        "CodeableConcept with text only",
        _with(COND, clinicalStatus={"text": "active"}),
        {("code-invalid", "Condition.clinicalStatus")},
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_resource(resource: Any, expected: set[tuple[str, str]]) -> None:
    issues = validate(resource)
    assert {(i.code, i.expression) for i in issues} == expected
    assert len(issues) == len(expected)  # one issue per problem, not several
    assert all(i.severity == "error" and i.message for i in issues)


def test_messages() -> None:
    (unknown,) = validate(_patient(foo=1))
    assert unknown.message == "Unknown element 'foo'"
    (gender,) = validate(_patient(gender="xyz"))
    assert gender.message == (
        "Element 'Patient.gender' value 'xyz' is not in the required value set "
        "http://hl7.org/fhir/ValueSet/administrative-gender"
    )
    (missing,) = validate({"resourceType": "Observation", "code": {"text": "x"}})
    assert missing.message == "Missing required element 'status'"
    (date,) = validate(_patient(birthDate="1980-02-30"))
    assert "'1980-02-30'" in date.message and "Patient.birthDate" in date.message


def test_deep_nesting_is_an_issue_not_a_crash() -> None:
    item: dict[str, Any] = {"linkId": "x", "type": "group"}
    root = item
    for _ in range(3000):
        child: dict[str, Any] = {"linkId": "x", "type": "group"}
        item["item"] = [child]
        item = child
    issues = validate({"resourceType": "Questionnaire", "status": "draft", "item": [root]})
    assert [(i.code, i.expression) for i in issues] == [("structure", "")]


def test_dom3_is_satisfied_by_any_local_reference_form() -> None:
    org = {"resourceType": "Organization", "id": "o", "name": "x"}
    # referenced from the resource
    assert validate(_patient(contained=[org], managingOrganization={"reference": "#o"})) == []
    # referenced from another contained resource that the resource refers to
    practitioner = {"resourceType": "Practitioner", "id": "p",
                    "qualification": [{"code": {"text": "x"}, "issuer": {"reference": "#o"}}]}
    assert validate(_patient(contained=[org, practitioner], generalPractitioner=[{"reference": "#p"}])) == []
    # a contained resource referring to its container with '#'
    provenance = {"resourceType": "Provenance", "id": "prov", "target": [{"reference": "#"}],
                  "recorded": "2020-01-01T00:00:00Z", "agent": [{"who": {"display": "x"}}]}
    assert validate(_patient(contained=[provenance])) == []
    # a canonical: Questionnaire answerValueSet '#vs'
    vs = {"resourceType": "ValueSet", "id": "vs", "status": "active",
          "compose": {"include": [{"system": "http://loinc.org"}]}}
    q = {"resourceType": "Questionnaire", "status": "draft", "contained": [vs],
         "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}]}
    assert validate(q) == []
