"""Bindings (http://hl7.org/fhir/R4/terminologies.html#strength) of code, Coding, CodeableConcept, Quantity.

required: a code from the value set, else an error (also for each required additional binding,
R5's ``binding.additional`` as its R4 cross-version extension); extensible: a warning when no coding is in the
value set (a CodeableConcept with only text is fine); preferred and example bind nothing. Value sets
are expanded by :mod:`fhir_server.terminology` with the registry's ValueSets and CodeSystems in force;
when one can't be expanded locally (SNOMED CT, LOINC, ...) nothing is claimed about the code.
"""

from __future__ import annotations

from typing import Any

from conformance.validation.context import Ctx, seq
from conformance.validation.profile import Node
from fhir_server import terminology
from fhir_server.validation.issues import Loc

CODED = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})


def codings(value: Any, type_code: str) -> list[tuple[str | None, str]]:
    """(system, code) pairs carried by a coded value."""
    if type_code in ("code", "string", "uri"):
        return [(None, value)] if isinstance(value, str) else []
    if not isinstance(value, dict):
        return []
    items = value.get("coding") if type_code == "CodeableConcept" else [value]
    out: list[tuple[str | None, str]] = []
    for c in seq(items):
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            system = c.get("system")
            out.append((system if isinstance(system, str) else None, c["code"]))
    return out


def in_value_set(url: str, pairs: list[tuple[str | None, str]]) -> bool | None:
    """Is any pair in the value set? None when it can't be told."""
    unknown = False
    for system, code in pairs:
        found = terminology.validate_code(url, system, code)
        if found:
            return True
        unknown = unknown or found is None
    return None if unknown else False


def check(ctx: Ctx, value: Any, type_code: str, node: Node, loc: Loc) -> None:
    if type_code not in CODED:
        return
    for url in node.additional:
        _required(ctx, url, codings(value, type_code), loc)
    if node.binding is None:
        return
    strength, url = node.binding
    if strength not in ("required", "extensible"):
        return
    pairs = codings(value, type_code)
    if not pairs:
        return
    with terminology_of(ctx):
        verdict = in_value_set(url, pairs)
    if verdict is not False:
        return
    shown = ", ".join(f"{s}#{c}" if s else c for s, c in pairs)
    if strength == "required":
        ctx.error("code-invalid", f"The code provided ({shown}) was not found in the value set {url}", loc)
    else:
        ctx.warning("code-invalid", f"None of the codes provided ({shown}) are in the extensible value set {url}", loc)


def _required(ctx: Ctx, url: str, pairs: list[tuple[str | None, str]], loc: Loc) -> None:
    if not pairs:
        return
    with terminology_of(ctx):
        verdict = in_value_set(url, pairs)
    if verdict is False:
        ctx.error("code-invalid", f"None of the codings provided are in the value set {url} (additional binding)", loc)


def terminology_of(ctx: Ctx) -> Any:
    """The registry's terminology in force (the ValueSets and CodeSystems it holds)."""
    from fhir_server.terminology import overlay

    return overlay.use(ctx.registry.overlay)
