"""FHIRPath Patch beyond HL7's cases: errors are PatchError with a message; the input is not modified."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.fhirpath.patch import PatchError, apply_patch


def op(**parts: Any) -> dict[str, Any]:
    out = []
    for name, value in parts.items():
        if isinstance(value, int) and not isinstance(value, bool):
            out.append({"name": name, "valueInteger": value})
        elif isinstance(value, dict):
            out.append({"name": name, **value})
        else:
            out.append({"name": name, "valueString" if name != "type" else "valueCode": value})
    return {"name": "operation", "part": out}


def params(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(ops)}


PATIENT = {"resourceType": "Patient", "id": "p", "name": [{"family": "A"}, {"family": "B"}], "active": True}


def test_input_is_not_modified() -> None:
    original = {"resourceType": "Patient", "birthDate": "1920-01-01"}
    out = apply_patch(original, params(op(type="delete", path="Patient.birthDate")))
    assert out == {"resourceType": "Patient"}
    assert original == {"resourceType": "Patient", "birthDate": "1920-01-01"}


def test_replace_inside_a_list_and_choice_add() -> None:
    replace = op(type="replace", path="Patient.name[1].family", value={"valueString": "C"})
    out = apply_patch(PATIENT, params(replace))
    assert out["name"] == [{"family": "A"}, {"family": "C"}]
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    out = apply_patch(obs, params(op(type="add", path="Observation", name="value",
                                     value={"valueQuantity": {"value": 5, "unit": "mg"}})))
    assert out["valueQuantity"] == {"value": 5, "unit": "mg"}


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (op(type="frobnicate", path="Patient"), "unknown operation type"),
        (op(type="insert", path="Patient.name", index=5, value={"valueHumanName": {}}), "out of range"),
        (op(type="move", path="Patient.name", source=0, destination=9), "out of range"),
        (op(type="replace", path="Patient.birthDate", value={"valueDate": "2000-01-01"}), "No content found"),
        (op(type="delete", path="Patient.name"), "selects 2 elements"),
        (op(type="add", path="Patient", name="nonsense", value={"valueString": "x"}), "not an element"),
        (op(type="add", path="Patient", name="birthDate"), "no 'value'"),
        (op(type="replace", path="Patient.name.where(", value={"valueString": "x"}), "invalid path"),
        (op(path="Patient"), "no 'type'"),
    ],
)
def test_errors(operation: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_patch(PATIENT, params(operation))


def test_not_parameters() -> None:
    with pytest.raises(PatchError, match="Parameters"):
        apply_patch(PATIENT, {"resourceType": "Patient"})


def test_replace_choice_with_another_type() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueString": "high"}
    out = apply_patch(obs, params(op(type="replace", path="Observation.value", value={"valueInteger": 7})))
    assert "valueString" not in out and out["valueInteger"] == 7


def test_primitive_extensions_stay_aligned() -> None:
    ext = {"extension": [{"url": "u", "valueString": "e"}]}
    pat = {"resourceType": "Patient", "name": [{"given": ["A", "B"], "_given": [None, ext]}]}
    value = {"valueString": "Z"}
    out = apply_patch(pat, params(op(type="insert", path="Patient.name[0].given", index=0, value=value)))
    assert out["name"][0] == {"given": ["Z", "A", "B"], "_given": [None, None, ext]}
    out = apply_patch(pat, params(op(type="move", path="Patient.name[0].given", source=1, destination=0)))
    assert out["name"][0] == {"given": ["B", "A"], "_given": [ext, None]}
    out = apply_patch(pat, params(op(type="replace", path="Patient.name[0].given[1]", value=value)))
    assert out["name"][0] == {"given": ["A", "Z"], "_given": [None, ext]}  # the extension stays


@pytest.mark.parametrize(
    "parameters",
    [
        {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": "x"}]},
        {"resourceType": "Parameters", "parameter": {"name": "operation"}},
        {"resourceType": "Parameters", "parameter": [7]},
        {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [None]}]},
        params(op(type="replace", path="Patient.name.where(", value={"valueString": "x"}), {"name": "operation"}),
        params(op(type="add", path="Patient", name="contact", value={"part": "x"})),
        params(op(type="delete", path="Patient.name.where(")),  # not FHIRPath
        params(op(type="delete", path="Patient.name[" + "9" * 50 + "]")),  # no Integer literal
    ],
)
def test_malformed_parameters_are_format_errors(parameters: dict[str, Any]) -> None:
    """A Parameters resource not shaped like a FHIRPath Patch is rejected before anything is applied."""
    from fhir_server.fhirpath.patch import PatchFormatError

    with pytest.raises(PatchFormatError):
        apply_patch(PATIENT, parameters)


def test_path_evaluation_failures_are_patch_errors() -> None:
    """A regex that backtracks without end or an out-of-range literal: a PatchError, not a hang or crash."""
    slow = op(type="replace", path="Patient.name.where('" + "a" * 60 + "!'.matches('(a|aa)+$')).family",
              value={"valueString": "x"})
    with pytest.raises(PatchError, match="regular expression"):
        apply_patch(PATIENT, params(slow))
    big = op(type="delete", path="Patient.name.where(" + "9" * 5000 + " > 0)")
    with pytest.raises(PatchError, match="out of range"):
        apply_patch(PATIENT, params(big))
