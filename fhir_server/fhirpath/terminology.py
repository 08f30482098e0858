"""FHIR memberOf(), subsumes(), subsumedBy() (http://hl7.org/fhir/R4/fhirpath.html#functions) over the
project's local terminology (:mod:`fhir_server.terminology`: the R4 value sets and code systems).

Inputs may be a code (string), a Coding or a CodeableConcept. The answer is None ("unknown": the
function returns empty) when the value set or code system is not held locally.
"""

from __future__ import annotations

from typing import Any

from fhir_server import terminology


def _codings(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding or CodeableConcept."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    items = value.get("coding") if "coding" in value else [value]
    out = []
    for c in items or ():
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            system = c.get("system")
            out.append((system if isinstance(system, str) else None, c["code"]))
    return out


def member_of(value: Any, url: str) -> bool | None:
    """Is any coding of ``value`` in the value set ``url``?"""
    unknown = False
    for system, code in _codings(value):
        found = terminology.validate_code(url, system, code)
        if found:
            return True
        unknown = unknown or found is None
    return None if unknown else False


def subsumes(value: Any, other: Any, direction: str) -> bool | None:
    """``value.subsumes(other)`` (direction "subsumes") or ``subsumedBy`` ("subsumed-by")."""
    unknown = False
    for system_a, code_a in _codings(value):
        for system_b, code_b in _codings(other):
            if system_a is None or system_a != system_b:
                continue
            outcome = terminology.subsumes(system_a, code_a, code_b)
            if outcome in ("equivalent", direction):
                return True
            unknown = unknown or outcome is None
    return None if unknown else False
