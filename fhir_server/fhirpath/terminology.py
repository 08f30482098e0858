"""FHIR memberOf() (http://hl7.org/fhir/R4/fhirpath.html#functions) against the shipped R4 value sets.

A value set's codes are gathered from its expansion, or from ``compose.include`` (listed concepts,
whole code systems shipped with R4, included value sets). Filters and excludes make the answer
unknown: memberOf() is then empty.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhir_server import definitions

Codes = frozenset[tuple[str, str]]


@lru_cache(maxsize=512)
def value_set_codes(url: str) -> Codes | None:
    """(system, code) pairs of a value set, None if unknown or not enumerable here."""
    vs = definitions.by_canonical(url)
    if vs is None or vs.get("resourceType") != "ValueSet":
        return None
    expansion = vs.get("expansion", {}).get("contains")
    if expansion:
        return frozenset(_expansion(expansion))
    compose = vs.get("compose", {})
    if compose.get("exclude"):
        return None
    out: set[tuple[str, str]] = set()
    for inc in compose.get("include", []):
        codes = _include(inc)
        if codes is None:
            return None
        out |= codes
    return frozenset(out)


def _expansion(contains: list[dict[str, Any]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for c in contains:
        if "code" in c:
            out.add((c.get("system", ""), c["code"]))
        out |= _expansion(c.get("contains", []))
    return out


def _include(inc: dict[str, Any]) -> set[tuple[str, str]] | None:
    if inc.get("filter"):
        return None
    system = inc.get("system", "")
    out: set[tuple[str, str]] = set()
    if inc.get("concept"):
        out = {(system, c["code"]) for c in inc["concept"]}
    elif system:
        cs = definitions.by_canonical(system)
        if cs is None or cs.get("content") not in (None, "complete"):
            return None
        out = {(system, code) for code in _cs_codes(cs.get("concept", []))}
    for ref in inc.get("valueSet", []):
        nested = value_set_codes(ref)
        if nested is None:
            return None
        out = (out & nested) if out else set(nested)
    return out


def _cs_codes(concepts: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in concepts:
        out.append(c["code"])
        out.extend(_cs_codes(c.get("concept", [])))
    return out


def member_of(value: Any, type_name: str, url: str) -> bool | None:
    """Is a code / Coding / CodeableConcept in the value set ``url``? None when unknown."""
    codes = value_set_codes(url)
    if codes is None:
        return None
    if isinstance(value, str):
        return any(code == value for _, code in codes)
    if not isinstance(value, dict):
        return False
    codings = value.get("coding", []) if "coding" in value or type_name == "CodeableConcept" else [value]
    return any((c.get("system", ""), c.get("code")) in codes for c in codings if isinstance(c, dict))
