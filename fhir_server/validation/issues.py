"""Validation issues as OperationOutcome issues (http://hl7.org/fhir/R4/operationoutcome.html).

An issue's ``code`` is an R4 IssueType (http://hl7.org/fhir/issue-type) and its ``expression`` a
FHIRPath location built from element names, ``[index]`` and, for resources inside resources and
choice elements, ``ofType(T)``: ``Bundle.entry[2].resource.ofType(Patient).birthDate``,
``Observation.value.ofType(Quantity).value``. Locations are kept as cheap parent-linked tuples while
walking and rendered to text only when an issue is raised.

Which issues are *structural* (the REST layer answers 400: the body is not an R4 resource in the
JSON format or breaks base cardinality) and which are rule failures (422: required bindings and
invariants) is decided by :attr:`Issue.structural`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (parent location or None, segment, index or -1)
Loc = tuple[Any, str, int]

STRUCTURAL_CODES = frozenset({"structure", "required", "value", "invalid", "not-supported"})


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding: ``severity`` (error | warning), IssueType ``code``, message, FHIRPath location."""

    severity: str
    code: str
    message: str
    expression: str

    @property
    def structural(self) -> bool:
        """True when the resource can't be accepted as R4 JSON at all (HTTP 400 rather than 422)."""
        return self.code in STRUCTURAL_CODES

    def as_oo_issue(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.message}
        if self.expression:
            out["expression"] = [self.expression]
        return out


def render(loc: Loc | None) -> str:
    """The FHIRPath text of a location tuple."""
    parts: list[str] = []
    while loc is not None:
        parent, segment, index = loc
        parts.append(f"{segment}[{index}]" if index >= 0 else segment)
        loc = parent
    return ".".join(reversed(parts))


def child(loc: Loc | None, segment: str, index: int = -1) -> str:
    """The rendered location of a child of ``loc``."""
    return render((loc, segment, index))


def error(code: str, message: str, expression: str) -> Issue:
    return Issue("error", code, message, expression)


def has_errors(issues: list[Issue]) -> bool:
    return any(i.severity in ("error", "fatal") for i in issues)


def to_operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource for ``issues`` (an informational one when there are none)."""
    if not issues:
        return {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": "No issues"}],
        }
    return {"resourceType": "OperationOutcome", "issue": [i.as_oo_issue() for i in issues]}
