"""Invariants (http://hl7.org/fhir/R4/conformance-rules.html#constraints): ``constraint.expression`` on FHIRPath.

Each constraint compiles once, with the project's FHIRPath engine, when its profile is compiled.
ele-1 and ext-1 are skipped: the structural validator checks them on every element already. An
expression that does not compile, or fails while running, is reported as information (the
constraint could not be checked), never as a failure of the resource. Only ``false`` fails: an empty
result (FHIRPath's "unknown", e.g. ``start <= end`` on values of different precision) does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server import fhirpath
from fhir_server.fhirpath import Expression, FHIRPathError

STRUCTURAL_KEYS = frozenset({"ele-1", "ext-1"})
# Published R4 expressions that contradict their own intent under FHIRPath's type rules, with the
# correction later FHIR versions made (R4 que-7 tests the FHIR boolean with the System type name,
# so it fails every valid 'exists' condition; R5 writes 'answer is boolean').
ERRATA = {
    ("que-7", "operator = 'exists' implies (answer is Boolean)"): "operator = 'exists' implies (answer is boolean)",
}


@dataclass(frozen=True, slots=True)
class Invariant:
    key: str
    severity: str  # error | warning
    human: str
    source: str
    expression: Expression | None
    problem: str = ""  # why the expression could not be compiled


def compile_constraints(constraints: Any, type_name: str) -> tuple[Invariant, ...]:
    out: list[Invariant] = []
    for c in constraints:
        if not isinstance(c, dict) or c.get("key") in STRUCTURAL_KEYS:
            continue
        expr_text = c.get("expression")
        if not isinstance(expr_text, str):
            continue
        expr_text = ERRATA.get((str(c.get("key")), expr_text), expr_text)
        severity = "warning" if c.get("severity") == "warning" else "error"
        key, human, source = str(c.get("key", "")), str(c.get("human", "")), str(c.get("source", ""))
        try:
            expr: Expression | None = fhirpath.compile(expr_text)
            problem = ""
        except FHIRPathError as exc:
            expr, problem = None, str(exc)
        out.append(Invariant(key, severity, human, source, expr, problem))
    return tuple(out)


def evaluate(
    inv: Invariant, resource: Any, context: Any, resolver: Any = None, env: dict[str, Any] | None = None
) -> bool | str:
    """True when the constraint holds, False when it fails, a reason text when it can't be checked."""
    if inv.expression is None:
        return inv.problem or "the expression does not compile"
    try:
        result = inv.expression.evaluate(resource, context=context, resolver=resolver, env=env)
    except (FHIRPathError, RecursionError, ValueError, TypeError, ArithmeticError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return not (len(result) == 1 and result[0] is False)
