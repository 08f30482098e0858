"""Loader and runner for the HL7 FHIRPath R4 test suite (tests-fhir-r4.xml, fhir-test-cases, Apache-2.0).

Each ``<test>`` names an input resource, an expression, and either its expected outputs (type and
value) or ``invalid="..."`` (an error is expected). Inputs in XML are converted with our own
``fhir_server.formats.xml_in``; JSON inputs are read with decimals kept as ``Decimal``.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from fhir_server import fhirpath
from fhir_server.formats.xml_in import parse_resource

DATA = Path(__file__).resolve().parent.parent / "data" / "fhirpath"
SUITE = DATA / "tests-fhir-r4.xml"

_TYPES = {
    "boolean": {"boolean", "System.Boolean"},
    "integer": {"integer", "positiveInt", "unsignedInt", "System.Integer"},
    "decimal": {"decimal", "System.Decimal"},
    "string": {"string", "System.String"},
    "code": {"code"},
    "id": {"id"},
    "date": {"date", "System.Date"},
    "dateTime": {"dateTime", "instant", "System.DateTime"},
    "time": {"time", "System.Time"},
    "Quantity": {"Quantity", "System.Quantity"},
}


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    expression: str
    inputfile: str | None
    outputs: tuple[tuple[str, str], ...]
    invalid: str | None
    strict: bool
    predicate: bool
    ordered: bool


def _outputs(test: ET.Element) -> tuple[tuple[str, str], ...]:
    return tuple((o.get("type", ""), (o.text or "").strip()) for o in test.findall("output"))


def load_cases() -> list[Case]:
    root = ET.parse(SUITE).getroot()
    cases = []
    for group in root.iter("group"):
        for i, test in enumerate(group.iter("test")):
            expr_el = test.find("expression")
            if expr_el is None:
                continue
            mode = test.get("mode") or expr_el.get("mode")
            cases.append(
                Case(
                    name=test.get("name") or f"{group.get('name')}-{i}",
                    group=group.get("name", ""),
                    expression=expr_el.text or "",
                    inputfile=test.get("inputfile"),
                    outputs=_outputs(test),
                    invalid=expr_el.get("invalid"),
                    strict=mode == "strict",
                    predicate=test.get("predicate") == "true",
                    ordered=test.get("ordered") != "false",
                )
            )
    return cases


@cache
def _parsed(name: str) -> dict[str, Any]:
    path = DATA / "inputs" / name
    if name.endswith(".xml"):
        return parse_resource(path.read_bytes(), strict_order=False)  # observation-example.xml: see tests/formats
    data: dict[str, Any] = json.loads(path.read_bytes(), parse_float=Decimal)
    return data


def load_input(name: str) -> dict[str, Any]:
    """A fresh copy of an input resource as FHIR JSON (decimals as Decimal)."""
    return copy.deepcopy(_parsed(name))


def run_case(case: Case) -> tuple[bool, str]:
    """(passed, explanation)."""
    resource = load_input(case.inputfile) if case.inputfile else {}
    base = resource.get("resourceType") if resource else None
    try:
        expr = fhirpath.compile(case.expression, base, strict=case.strict)
        result = expr.evaluate_typed(resource)
    except fhirpath.FHIRPathError as e:
        if case.invalid:
            return True, f"error as expected: {e}"
        return False, f"unexpected error: {e}"
    if case.invalid:
        return False, f"expected an error ({case.invalid}), got {[r.value for r in result]}"
    if case.predicate:
        result = [fhirpath.TypedValue(bool(result), "System.Boolean")]
    return _compare(case, result)


def _compare(case: Case, result: list[Any]) -> tuple[bool, str]:
    got = [(r.type, r.value) for r in result]
    if len(got) != len(case.outputs):
        return False, f"expected {list(case.outputs)}, got {got}"
    pairs = list(zip(case.outputs, got, strict=True))
    if not case.ordered:
        remaining = list(got)
        for exp in case.outputs:
            match = next((g for g in remaining if _matches(exp, g)), None)
            if match is None:
                return False, f"expected {list(case.outputs)}, got {got}"
            remaining.remove(match)
        return True, "ok"
    for exp, g in pairs:
        if not _matches(exp, g):
            return False, f"expected {list(case.outputs)}, got {got}"
    return True, "ok"


def _matches(expected: tuple[str, str], got: tuple[str, Any]) -> bool:
    etype, text = expected
    gtype, value = got
    if etype in _TYPES and gtype not in _TYPES[etype]:
        return False
    if etype == "boolean":
        return value is (text == "true")
    if etype == "integer":
        return isinstance(value, int) and value == int(text)
    if etype == "decimal":
        return Decimal(str(value)) == Decimal(text)
    if etype in ("date", "dateTime") or (not etype and isinstance(value, fhirpath.DateTime)):
        return "@" + str(value) == text
    if etype == "time" or (not etype and isinstance(value, fhirpath.Time)):
        return "@T" + str(value) == text
    if not etype and isinstance(value, bool):
        return text == ("true" if value else "false")
    if not etype and isinstance(value, Decimal):
        return value == Decimal(text)
    return str(value) == text
