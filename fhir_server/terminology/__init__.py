"""Local terminology services (http://hl7.org/fhir/R4/terminology-service.html) over the R4 definitions.

The value sets, FHIR/v2/v3 code systems shipped in :mod:`fhir_server.definitions` are the whole
terminology: :func:`expand` and :func:`validate_code` answer ``None`` ("unknown") whenever a value
set needs a code system we do not hold in full (SNOMED CT, LOINC, UCUM, BCP-47, ...). This is the
seed of ``$expand``, ``$lookup``, ``$validate-code`` and ``$subsumes``, and of the search modifiers
``:below``/``:in``.
"""

from __future__ import annotations

from fhir_server.terminology.codesystem import (
    CodeSystemIndex,
    Concept,
    code_system,
    descendants,
    subsumes,
)
from fhir_server.terminology.valueset import Codes, expand, expand_codes, validate_code, value_set

__all__ = [
    "CodeSystemIndex",
    "Codes",
    "Concept",
    "code_system",
    "descendants",
    "expand",
    "expand_codes",
    "lookup",
    "subsumes",
    "validate_code",
    "value_set",
]


def lookup(system: str, code: str) -> Concept | None:
    """The concept ``code`` of a locally known code system (``$lookup``), or None."""
    cs = code_system(system)
    return None if cs is None else cs.concepts.get(code)
