"""HL7's FHIRPath Patch test cases (fhir-patch-tests.xml): input + Parameters → expected output or error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import pytest

from fhir_server.fhirpath.patch import PatchError, apply_patch
from fhir_server.formats.xml_in import element_to_resource
from tests.fhirpath.hl7_suite import DATA


@dataclass(frozen=True)
class PatchCase:
    name: str
    input: dict[str, Any]
    diff: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None


def _resource(case: ET.Element, tag: str) -> dict[str, Any] | None:
    holder = case.find(tag)
    if holder is None:
        return None
    el = next(iter(holder), None)
    return None if el is None else element_to_resource(el)


def load_patch_cases() -> list[PatchCase]:
    root = ET.parse(DATA / "fhir-patch-tests.xml").getroot()
    cases = []
    for case in root.iter("case"):
        error = case.find("error")
        inp, diff = _resource(case, "input"), _resource(case, "diff")
        assert inp is not None and diff is not None
        cases.append(
            PatchCase(case.get("name", ""), inp, diff, _resource(case, "output"),
                      None if error is None else error.get("msg", ""))
        )
    return cases


CASES = load_patch_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_patch_case(case: PatchCase) -> None:
    if case.error is not None:
        with pytest.raises(PatchError) as info:
            apply_patch(case.input, case.diff)
        assert str(info.value) == case.error or case.error in str(info.value)
        return
    assert apply_patch(case.input, case.diff) == case.output


def test_all_patch_cases_loaded() -> None:
    assert len(CASES) == 33
