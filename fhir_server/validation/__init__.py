"""Structural validation of R4 resources on write (http://hl7.org/fhir/R4/validation.html#structure).

``validate(resource)`` checks a parsed JSON resource against the base R4 StructureDefinitions (the
JSON format rules of json.html, element names and types, cardinality, primitive formats, Extension
ext-1, narrative basics) and its required bindings that can be expanded locally, and returns the
issues found (an empty list for a valid resource). ``to_operation_outcome`` turns them into the
OperationOutcome a client gets; ``Issue.structural`` tells 400 (not R4 JSON) from 422 (rule failed).
"""

from __future__ import annotations

from typing import Any

from fhir_server.validation.compile import warm_up
from fhir_server.validation.issues import STRUCTURAL_CODES, Issue, has_errors, to_operation_outcome
from fhir_server.validation.walk import check_resource

__all__ = ["STRUCTURAL_CODES", "Issue", "has_errors", "to_operation_outcome", "validate", "warm_up"]


def validate(resource: Any) -> list[Issue]:
    """The issues of one resource (a parsed JSON object); empty when it is valid."""
    out: list[Issue] = []
    try:
        check_resource(resource, None, out)
    except RecursionError:
        out.append(Issue("error", "structure", "The resource is nested too deeply to be processed", ""))
    return out
