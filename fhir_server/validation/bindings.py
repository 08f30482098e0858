"""Required bindings (http://hl7.org/fhir/R4/terminologies.html#required) on code, Coding and CodeableConcept.

Only value sets that :mod:`fhir_server.terminology` expands exactly are enforced; the compiler
leaves the code sets unset for the others, so they are skipped. For a CodeableConcept at least one
coding must be in the value set (a text-only concept carries no code from it).
"""

from __future__ import annotations

from typing import Any

from fhir_server.validation.compile import Prop
from fhir_server.validation.issues import Issue, Loc, child, error


def check_code_value(prop: Prop, value: str, loc: Loc, index: int, out: list[Issue]) -> None:
    """A ``code`` value (the caller has checked ``prop.codes`` is set)."""
    assert prop.codes is not None
    if value not in prop.codes:
        expr = child(loc, prop.segment, index)
        message = f"Element '{expr}' value {value!r} is not in the required value set {prop.value_set}"
        out.append(error("code-invalid", message, expr))


def _key(coding: dict[str, Any]) -> tuple[str, str] | None:
    """(system, code) of a Coding when both are strings (anything else was reported already)."""
    system, code = coding.get("system"), coding.get("code")
    return (system, code) if type(system) is str and type(code) is str else None


def check_coded(prop: Prop, value: dict[str, Any], loc: Loc, index: int, out: list[Issue]) -> None:
    """A Coding or CodeableConcept (the caller has checked ``prop.pairs`` is set)."""
    pairs = prop.pairs
    assert pairs is not None
    if prop.type_code == "Coding":
        if _key(value) in pairs:
            return
        shown = f"{value.get('system')}|{value.get('code')}"
    else:
        codings = value.get("coding")
        if type(codings) is list:
            for coding in codings:
                if type(coding) is dict and _key(coding) in pairs:
                    return
            shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings if type(c) is dict)
        else:
            shown = "no coding"
    expr = child(loc, prop.segment, index)
    message = f"Element '{expr}' ({shown}) has no code from the required value set {prop.value_set}"
    out.append(error("code-invalid", message, expr))
