"""The public API of fhir_server.fhirpath: compile/evaluate/evaluate_typed, errors, FHIR JSON details.

Expected values come from the resources themselves and the FHIRPath / FHIR R4 specifications.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from fhir_server import fhirpath
from fhir_server.fhirpath import FHIRPathError, compile
from tests.fhirpath.hl7_suite import load_input


def observation() -> dict[str, Any]:
    return load_input("observation-example.xml")


def patient() -> dict[str, Any]:
    return load_input("patient-example.xml")


def test_compile_is_cached_and_error_is_a_value_error_with_position() -> None:
    assert compile("Patient.name", "Patient") is compile("Patient.name", "Patient")
    with pytest.raises(FHIRPathError) as info:
        compile("Patient.name.where(", "Patient")
    assert isinstance(info.value, ValueError)
    assert info.value.position == 19
    assert "position 19" in str(info.value)


def test_strict_mode_rejects_unknown_elements_and_wrong_types() -> None:
    assert compile("name.given1", "Patient").evaluate(patient()) == []
    with pytest.raises(FHIRPathError, match="given1"):
        compile("name.given1", "Patient", strict=True)
    with pytest.raises(FHIRPathError, match="Encounter"):
        compile("Encounter.status", "Patient", strict=True)


def test_choice_json_name_is_rejected_for_a_known_type() -> None:
    with pytest.raises(FHIRPathError, match="valueQuantity"):
        compile("Observation.valueQuantity.unit", "Observation")


def test_complex_values_are_the_original_dicts() -> None:
    obs = observation()
    [code] = compile("Observation.code", "Observation").evaluate(obs)
    assert code is obs["code"]


def test_evaluate_typed_reports_fhir_types() -> None:
    obs = observation()
    expr = compile("Observation.value | Observation.effective | Observation.status", "Observation")
    typed = expr.evaluate_typed(obs)
    assert [t.type for t in typed] == ["Quantity", "dateTime", "code"]
    assert typed[0].value is obs["valueQuantity"]
    pat = patient()
    [contact] = compile("Patient.contact", "Patient").evaluate_typed(pat)
    assert contact.type == "Patient.contact"


def test_period_effective_is_typed_period() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "effectivePeriod": {"start": "2020-01-01", "end": "2020-01-02"}}
    [item] = compile("Observation.effective", "Observation").evaluate_typed(obs)
    assert item.type == "Period" and item.value is obs["effectivePeriod"]
    assert compile("Observation.effective.ofType(dateTime)", "Observation").evaluate(obs) == []


def test_choice_type_operators() -> None:
    obs = observation()
    assert compile("Observation.value.ofType(Quantity).unit", "Observation").evaluate(obs) == ["lbs"]
    assert compile("(Observation.value as Quantity).value", "Observation").evaluate(obs) == [Decimal("185")]
    assert compile("Observation.value is Quantity", "Observation").evaluate(obs) == [True]
    assert compile("Observation.value is Period", "Observation").evaluate(obs) == [False]


def test_primitive_extensions_with_aligned_nulls() -> None:
    pat = {
        "resourceType": "Patient",
        "name": [
            {
                "given": ["A", None, "C"],
                "_given": [None, {"extension": [{"url": "u", "valueString": "x"}]}, None],
            }
        ],
    }
    expr = compile("Patient.name.given", "Patient")
    assert expr.evaluate(pat) == ["A", None, "C"]  # the middle one has only an extension
    assert compile("Patient.name.given.extension('u').value", "Patient").evaluate(pat) == ["x"]
    assert compile("Patient.name.given.where(hasValue()).count()", "Patient").evaluate(pat) == [2]


def test_decimals_keep_precision_and_come_back_as_decimal() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": {"value": 1.50}}
    assert compile("Observation.value.value", "Observation").evaluate(obs) == [Decimal("1.5")]  # float in
    assert compile("Observation.value.value = 1.5", "Observation").evaluate(obs) == [True]


def test_system_values_created_by_the_expression() -> None:
    [d, q, t] = compile("@2020-01-02 | 5 'mg' | @T10:30", None).evaluate({})
    assert isinstance(d, fhirpath.Date) and str(d) == "2020-01-02"
    assert isinstance(q, fhirpath.Quantity) and q.value == 5 and q.unit == "mg"
    assert isinstance(t, fhirpath.Time) and str(t) == "10:30"


def test_quantity_comparison_with_ucum_units() -> None:
    obs = observation()  # 185 lbs ([lb_av])
    assert compile("Observation.value > 80 'kg'", "Observation").evaluate(obs) == [True]
    assert compile("Observation.value < 90 'kg'", "Observation").evaluate(obs) == [True]
    assert compile("Observation.value > 1 'm'", "Observation").evaluate(obs) == []  # not comparable


def test_date_precision_semantics() -> None:
    assert compile("@2012-04 = @2012-04-15").evaluate({}) == []
    assert compile("@2012-04 < @2012-05-15").evaluate({}) == [True]
    assert compile("@2012-04-15T10:00:00+02:00 = @2012-04-15T08:00:00Z").evaluate({}) == [True]


def test_environment_variables() -> None:
    pat = patient()
    assert compile("%resource.id").evaluate(pat) == ["example"]
    assert compile("%sct").evaluate(pat) == ["http://snomed.info/sct"]
    vs = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert compile("%`vs-administrative-gender`").evaluate(pat) == [vs]
    assert compile("%`ext-patient-birthTime`").evaluate(pat) == [
        "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    ]
    assert compile("name.given.where($this = %wanted)").evaluate(pat, env={"wanted": "Jim"}) == ["Jim"]
    with pytest.raises(FHIRPathError, match="unknown environment variable"):
        compile("%nope").evaluate(pat)


def test_context_node() -> None:
    pat = patient()
    name = pat["name"][0]
    expr = compile("given.first() & ' ' & %resource.id", "HumanName")
    assert expr.evaluate(pat, context=name) == ["Peter example"]
    assert compile("%context.family", "HumanName").evaluate(pat, context=name) == ["Chalmers"]


def test_union_branch_of_the_right_type() -> None:
    expr_obs = compile("Observation.code | Condition.code", "Observation")
    obs = observation()
    assert expr_obs.evaluate(obs) == [obs["code"]]
    cond = {"resourceType": "Condition", "code": {"text": "flu"}, "subject": {"reference": "Patient/1"}}
    assert compile("Observation.code | Condition.code", "Condition").evaluate(cond) == [{"text": "flu"}]
    # compiled for Observation but given a Condition: still right (the generic form is used)
    assert expr_obs.evaluate(cond) == [{"text": "flu"}]


def test_resolve_contained_bundle_callback_and_literal() -> None:
    pat = load_input("patient-container-example.json")
    pat["managingOrganization"] = {"reference": "#1"}
    assert compile("Patient.managingOrganization.resolve().id", "Patient").evaluate(pat) == ["1"]
    is_org = compile("Patient.managingOrganization.resolve() is Organization", "Patient")
    assert is_org.evaluate(pat) == [True]
    found: list[str] = []

    def resolver(ref: str) -> dict[str, Any] | None:
        found.append(ref)
        if ref == "Organization/o1":
            return {"resourceType": "Organization", "id": "o1", "name": "Acme"}
        return None

    pat["managingOrganization"] = {"reference": "Organization/o1"}
    expr = compile("Patient.managingOrganization.resolve().name", "Patient")
    assert expr.evaluate(pat, resolver=resolver) == ["Acme"]
    assert found == ["Organization/o1"]
    # no resolver: a literal reference still resolves to its type (for `resolve() is X` in search)
    obs = observation()
    expr = compile("Observation.subject.where(resolve() is Patient)", "Observation")
    assert expr.evaluate(obs) == [obs["subject"]]
    assert compile("Observation.subject.where(resolve() is Group)", "Observation").evaluate(obs) == []


def test_resolve_within_a_bundle() -> None:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "data" / "fhirpath" / "Bundle-bundle-example.json"
    bundle = json.loads(path.read_text())
    expr = compile("Bundle.entry.resource.ofType(MedicationRequest).medication.resolve()", "Bundle")
    [med] = expr.evaluate(bundle)
    assert med is bundle["entry"][1]["resource"]


def test_member_of_shipped_value_set() -> None:
    pat = patient()
    vs = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert compile(f"gender.memberOf('{vs}')").evaluate(pat) == [True]
    coding = {"resourceType": "Patient", "maritalStatus": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]}}
    vs = "http://hl7.org/fhir/ValueSet/marital-status"
    assert compile(f"maritalStatus.memberOf('{vs}')").evaluate(coding) == [True]


def test_execution_errors_are_fhirpath_errors() -> None:
    with pytest.raises(FHIRPathError):
        compile("Patient.name.single()", "Patient").evaluate(patient())
    with pytest.raises(FHIRPathError):
        compile("'a' < 1").evaluate({})


def test_thread_safety() -> None:
    expr = compile("Patient.name.where(use = 'official').given.count() + telecom.count()", "Patient")
    pat = patient()
    expected = expr.evaluate(pat)
    results: list[list[Any]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(200):
            r = expr.evaluate(pat)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert expected == [2 + 4]  # official given names: Peter, James; telecom: 4 entries
    assert all(r == expected for r in results) and len(results) == 800


def test_as_function_on_several_items() -> None:
    pat = patient()
    # outside strict mode as() filters, as R4's own invariant dom-3 needs
    uses = compile("Patient.name.as(HumanName).use", "Patient").evaluate(pat)
    assert uses == ["official", "usual", "maiden"]
    with pytest.raises(FHIRPathError, match="single item"):
        compile("Patient.name.as(HumanName).use", "Patient", strict=True).evaluate(pat)


def test_dom3_invariant_on_contained_resources() -> None:
    from fhir_server.definitions import structure_definitions

    root = structure_definitions()["DomainResource"]["snapshot"]["element"][0]
    dom3 = next(c["expression"] for c in root["constraint"] if c["key"] == "dom-3")
    pat = load_input("patient-container-example.json")
    expr = compile(dom3, "Patient")
    assert expr.evaluate(pat) == [False]  # contained Organization/1 is referenced as "1", not "#1"
    pat["managingOrganization"]["reference"] = "#1"
    assert expr.evaluate(pat) == [True]


def test_subsumes_with_the_shipped_code_systems() -> None:
    act = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    cond = {"resourceType": "Condition", "code": {"coding": [{"system": act, "code": "_ActAccountCode"}]}}
    cash = {"system": act, "code": "CASH"}  # in R4's v3-ActCode, CASH is below _ActAccountCode
    assert compile("code.subsumes(%c)").evaluate(cond, env={"c": cash}) == [True]
    assert compile("code.subsumedBy(%c)").evaluate(cond, env={"c": cash}) == [False]
    unknown = {"system": "http://snomed.info/sct", "code": "1"}
    assert compile("code.subsumes(%c)").evaluate(cond, env={"c": unknown}) == [False]  # other system


@pytest.mark.parametrize(
    ("div", "ok"),
    [
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter <b>Chalmers</b></p></div>', True),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><img src="#a"/></div>', True),
        ('<div xmlns="http://www.w3.org/1999/xhtml">\n   </div>', False),  # txt-2: no content
        ('<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script>hi</div>', False),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">hi</p></div>', False),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:x()">hi</a></div>', False),
        ("<div>no namespace</div>", False),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>', False),
    ],
)
def test_html_checks(div: str, ok: bool) -> None:
    pat = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    assert compile("text.div.htmlChecks()", "Patient").evaluate(pat) == [ok]
