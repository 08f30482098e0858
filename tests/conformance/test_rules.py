"""The validation engine, one rule family at a time, on hand-written profiles and instances.

Expected outcomes come from the R4 specification: profiling.html (snapshots, slicing, fixed/pattern),
elementdefinition.html (cardinality, types, bindings), conformance-rules.html (invariants),
extensibility.html (extension context and value type), resource.html#meta (profile claims).
"""

from __future__ import annotations

from typing import Any

from conformance.validation import Options, Registry, validate
from conformance.validation.profile import profile

BASE = "http://hl7.org/fhir/StructureDefinition/"
P = "http://example.org/fhir/StructureDefinition/"


def sd(name: str, type_: str, elements: list[dict[str, Any]], base: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "url": P + name,
        "name": name,
        "status": "draft",
        "kind": "complex-type" if type_ == "Extension" else "resource",
        "abstract": False,
        "type": type_,
        "derivation": "constraint",
        "baseDefinition": base or BASE + type_,
        "differential": {"element": [{"id": type_, "path": type_}, *elements]},
        **extra,
    }


def el(eid: str, **rules: Any) -> dict[str, Any]:
    path = ".".join(part.split(":")[0] for part in eid.split("."))
    return {"id": eid, "path": path, **rules}


def issues(
    resource: dict[str, Any],
    *profiles: dict[str, Any],
    extra: list[dict[str, Any]] | None = None,
    options: Options | None = None,
) -> list[tuple[str, str, str]]:
    registry = Registry([*profiles, *(extra or [])])
    urls = [p["url"] for p in profiles if p["type"] == resource["resourceType"]]
    found = validate(resource, registry=registry, profiles=urls, options=options)
    return [(i.severity, i.expression, i.message) for i in found if i.severity in ("error", "warning")]


def errors(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    return [(e, m) for s, e, m in issues(*args, **kwargs) if s == "error"]


OBS = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "x"},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
}
PAT = {"resourceType": "Patient", "text": OBS["text"]}


# snapshots (profiling.html#snapshot)


def test_snapshot_from_differential_unfolds_types_and_adds_slices() -> None:
    prof = sd(
        "Snap",
        "Patient",
        [
            el("Patient.identifier", slicing={"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}),
            el("Patient.identifier:mrn", sliceName="mrn", min=1, max="1"),
            el("Patient.identifier:mrn.system", fixedUri="urn:mrn"),
        ],
    )
    compiled = profile(Registry([prof]), prof["url"])
    assert compiled is not None and compiled.errors == ()
    ident = compiled.root.children["identifier"]
    assert [s.slice_name for s in ident.slices] == ["mrn"]
    assert ident.slices[0].children["system"].fixed == "urn:mrn"  # Identifier.system, unfolded from Identifier
    assert "birthDate" in compiled.root.children  # everything else comes from the base snapshot


def test_snapshot_errors_are_reported_when_a_definition_is_validated() -> None:
    bad = sd("Bad", "Observation", [el("Observation.valueBla", min=1), el("Observation.status", max="*")])
    found = errors(bad)
    assert any("valueBla" in m for _, m in found)
    assert any("max * is more than the base's max 1" in m for _, m in found)


# cardinality and types (elementdefinition.html)


def test_profile_cardinality() -> None:
    prof = sd("Card", "Patient", [el("Patient.name", min=1), el("Patient.telecom", max="1")])
    two = {"system": "phone", "value": "1"}
    assert errors({**PAT, "telecom": [two, two]}, prof) == [
        ("Patient", "Patient.name: minimum required = 1, but only found 0"),
        ("Patient", "Patient.telecom: max allowed = 1, but found 2"),
    ]


def test_choice_type_restricted() -> None:
    prof = sd("Qty", "Observation", [el("Observation.value[x]", type=[{"code": "Quantity"}])])
    assert errors({**OBS, "valueQuantity": {"value": 1}}, prof) == []
    found = errors({**OBS, "valueString": "x"}, prof)
    assert found == [
        ("Observation.value.ofType(string)", "The definition allows for the types [Quantity] but found type string")
    ]


def test_reference_target_types() -> None:
    prof = sd(
        "Subj",
        "Observation",
        [el("Observation.subject", type=[{"code": "Reference", "targetProfile": [BASE + "Patient"]}])],
    )
    assert errors({**OBS, "subject": {"reference": "Patient/1"}}, prof) == []
    found = errors({**OBS, "subject": {"reference": "Group/1"}}, prof)
    assert len(found) == 1 and "'Group'" in found[0][1] and found[0][0] == "Observation.subject"


# fixed[x] and pattern[x]


def test_fixed_and_pattern() -> None:
    prof = sd(
        "Fix",
        "Observation",
        [
            el("Observation.status", fixedCode="final"),
            el(
                "Observation.code",
                patternCodeableConcept={"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            ),
        ],
    )
    good = {
        **OBS,
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "8867-4", "display": "HR"},
                {"system": "urn:other", "code": "x"},
            ]
        },
    }
    assert errors(good, prof) == []  # a pattern allows more than it says
    bad = {**good, "status": "amended", "code": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]}}
    assert [e for e, _ in errors(bad, prof)] == ["Observation.status", "Observation.code"]


def test_fixed_complex_value_allows_nothing_more() -> None:
    prof = sd("FixC", "Patient", [el("Patient.maritalStatus", fixedCodeableConcept={"text": "single"})])
    assert errors({**PAT, "maritalStatus": {"text": "single"}}, prof) == []
    found = errors({**PAT, "maritalStatus": {"text": "single", "coding": [{"code": "S"}]}}, prof)
    assert found and found[0][0] == "Patient.maritalStatus.coding"


# slicing (profiling.html#slicing)

CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}


def _sliced(rules: str) -> dict[str, Any]:
    return sd(
        "Slice" + rules,
        "Observation",
        [
            el(
                "Observation.category",
                slicing={"discriminator": [{"type": "pattern", "path": "$this"}], "rules": rules},
            ),
            el("Observation.category:vs", sliceName="vs", min=1, max="1", patternCodeableConcept=CATEGORY),
        ],
    )


def test_pattern_slicing_open_and_closed() -> None:
    other = {"text": "other"}
    assert errors({**OBS, "category": [CATEGORY, other]}, _sliced("open")) == []
    closed = errors({**OBS, "category": [CATEGORY, other]}, _sliced("closed"))
    assert len(closed) == 1 and "CLOSED" in closed[0][1] and closed[0][0] == "Observation.category[1]"
    missing = errors({**OBS, "category": [other]}, _sliced("open"))
    assert missing == [("Observation", "Slice 'Observation.category:vs': a matching slice is required, but not found")]
    twice = errors({**OBS, "category": [CATEGORY, CATEGORY]}, _sliced("open"))
    assert twice == [("Observation", "Observation.category:vs: max allowed = 1, but found 2")]


def test_type_and_profile_discriminators() -> None:
    patient_with_name = sd("Named", "Patient", [el("Patient.name", min=1)])
    bundle = sd(
        "Coll",
        "Bundle",
        [
            el(
                "Bundle.entry",
                slicing={
                    "discriminator": [{"type": "type", "path": "resource"}, {"type": "profile", "path": "resource"}],
                    "rules": "open",
                },
            ),
            el("Bundle.entry:pat", sliceName="pat", min=1, max="1"),
            el("Bundle.entry:pat.resource", type=[{"code": "Patient", "profile": [patient_with_name["url"]]}]),
        ],
    )

    def coll(*resources: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"urn:uuid:0000000{i}-0000-0000-0000-000000000000", "resource": r}
                for i, r in enumerate(resources)
            ],
        }

    named = {"resourceType": "Patient", "name": [{"family": "A"}]}
    assert errors(coll(named, {**OBS}), bundle, extra=[patient_with_name]) == []
    found = errors(coll({"resourceType": "Patient", "gender": "male"}), bundle, extra=[patient_with_name])
    assert ("Bundle", "Slice 'Bundle.entry:pat': a matching slice is required, but not found") in found


# invariants (conformance-rules.html#constraints)


def test_invariant_severity() -> None:
    prof = sd(
        "Inv",
        "Patient",
        [
            el(
                "Patient",
                constraint=[
                    {"key": "t-err", "severity": "error", "human": "needs a name", "expression": "name.exists()"},
                    {
                        "key": "t-warn",
                        "severity": "warning",
                        "human": "should have a gender",
                        "expression": "gender.exists()",
                    },
                ],
            )
        ],
    )
    found = issues(PAT, prof)
    assert ("error", "Patient", "Constraint failed: t-err: 'needs a name'") in found
    assert ("warning", "Patient", "Constraint failed: t-warn: 'should have a gender'") in found
    assert not [f for f in issues({**PAT, "name": [{"family": "A"}], "gender": "male"}, prof) if "t-" in f[2]]


def test_base_invariants_of_data_types() -> None:
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "text": PAT["text"],
        "period": {"start": "2024-02-01", "end": "2024-01-01"},
    }
    assert errors(enc) == [
        ("Encounter.period", "Constraint failed: per-1: 'If present, start SHALL have a lower value than end'")
    ]


# bindings (terminologies.html#strength)

VS = {
    "resourceType": "ValueSet",
    "url": "http://example.org/vs/colours",
    "status": "active",
    "compose": {
        "include": [{"system": "http://example.org/cs/colours", "concept": [{"code": "red"}, {"code": "blue"}]}]
    },
}


def test_required_and_extensible_bindings() -> None:
    def bound(strength: str) -> dict[str, Any]:
        return sd(
            "B" + strength,
            "Observation",
            [el("Observation.code", binding={"strength": strength, "valueSet": VS["url"]})],
        )

    red = {**OBS, "code": {"coding": [{"system": "http://example.org/cs/colours", "code": "red"}]}}
    green = {**OBS, "code": {"coding": [{"system": "http://example.org/cs/colours", "code": "green"}]}}
    assert issues(red, bound("required"), extra=[VS]) == []
    assert [s for s, e, _ in issues(green, bound("required"), extra=[VS]) if e == "Observation.code"] == ["error"]
    assert [s for s, e, _ in issues(green, bound("extensible"), extra=[VS]) if e == "Observation.code"] == ["warning"]
    assert issues(green, bound("preferred"), extra=[VS]) == []


# extensions (extensibility.html, defining-extensions.html#context)

EXT = sd(
    "colour",
    "Extension",
    [el("Extension.url", fixedUri=P + "colour"), el("Extension.value[x]", type=[{"code": "code"}])],
    context=[{"type": "element", "expression": "Patient"}],
)


def test_extension_value_type_and_context() -> None:
    ok = {**PAT, "extension": [{"url": P + "colour", "valueCode": "red"}]}
    assert errors(ok, extra=[EXT]) == []
    wrong_type = {**PAT, "extension": [{"url": P + "colour", "valueString": "red"}]}
    assert errors(wrong_type, extra=[EXT]) == [
        (
            "Patient.extension[0].value.ofType(string)",
            "The definition allows for the types [code] but found type string",
        )
    ]
    wrong_place = {**OBS, "extension": [{"url": P + "colour", "valueCode": "red"}]}
    found = errors(wrong_place, extra=[EXT])
    assert len(found) == 1 and "not allowed to be used at this point" in found[0][1]


def test_unknown_extensions_follow_the_options() -> None:
    unknown = {**PAT, "extension": [{"url": "http://unknown.test/ext", "valueCode": "x"}]}
    assert [s for s, e, _ in issues(unknown) if e == "Patient.extension[0]"] == ["warning"]
    assert [
        s for s, e, _ in issues(unknown, options=Options(unknown_extensions="error")) if e == "Patient.extension[0]"
    ] == ["error"]
    example = {**PAT, "extension": [{"url": "http://example.org/ext", "valueCode": "x"}]}
    assert errors(example, options=Options(unknown_extensions="error")) == []
    assert errors(example, options=Options(unknown_extensions="error", allow_examples=False))


# meta.profile claims (resource.html#Meta)


def test_meta_profile_claims() -> None:
    prof = sd("Claimed", "Patient", [el("Patient.gender", min=1)])
    registry = Registry([prof])
    claimed = {**PAT, "meta": {"profile": [prof["url"]]}}
    assert [i.message for i in validate(claimed, registry=registry) if i.severity == "error"] == [
        "Patient.gender: minimum required = 1, but only found 0"
    ]
    unknown = {**PAT, "meta": {"profile": ["http://example.org/not-known"]}}
    found = validate(unknown, registry=registry)
    assert [(i.severity, i.code) for i in found] == [("warning", "not-found")]
