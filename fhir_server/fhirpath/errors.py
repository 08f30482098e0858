"""FHIRPath errors (http://hl7.org/fhirpath/N1/#errors): syntax, semantic and execution errors.

Every error the engine raises is a :class:`FHIRPathError` (a ``ValueError``) whose message names the
problem and, for syntax and semantic errors, the 0-based character position in the expression.
"""

from __future__ import annotations


class FHIRPathError(ValueError):
    """A FHIRPath expression is invalid (syntax / semantic) or failed while evaluating (execution)."""

    def __init__(self, message: str, position: int | None = None, expression: str | None = None) -> None:
        self.message = message
        self.position = position
        self.expression = expression
        text = message if position is None else f"{message} at position {position}"
        if expression is not None:
            text += f" in {expression!r}"
        super().__init__(text)


class FHIRPathSyntaxError(FHIRPathError):
    """The expression does not parse."""


class FHIRPathSemanticError(FHIRPathError):
    """The expression parses but is invalid for the types involved (unknown element, wrong type)."""


class FHIRPathExecutionError(FHIRPathError):
    """Evaluation failed (e.g. a singleton was expected but the collection had several items)."""
