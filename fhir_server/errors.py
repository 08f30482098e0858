"""The one error table (http://hl7.org/fhir/R4/operationoutcome.html, http.html#Status-Codes).

Every failure a FHIR client can see is a ``FhirError``: its class fixes the HTTP status and the
OperationOutcome ``issue.code``; the message says what went wrong in the client's terms.
"""

from __future__ import annotations

from typing import Any


class FhirError(Exception):
    """A failure reported to the client as an OperationOutcome."""

    status = 500
    code = "exception"
    severity = "error"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: list[str] | None = None,
        issues: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression
        self.extra_issues = issues
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        if self.extra_issues:
            return operation_outcome(self.extra_issues)
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = self.expression
        return operation_outcome([issue])


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


class BadRequest(FhirError):
    status, code = 400, "invalid"


class InvalidResource(FhirError):
    """The body is not a valid resource (structure, types, cardinality, formats)."""

    status, code = 400, "structure"


class InvalidValue(FhirError):
    """A value the datatype does not allow (e.g. a control character in a string)."""

    status, code = 400, "value"


class Unauthorized(FhirError):
    status, code = 401, "login"


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class MethodNotAllowed(FhirError):
    status, code = 405, "not-supported"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Gone(FhirError):
    status, code = 410, "deleted"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-long"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Unprocessable(FhirError):
    """Well-formed but breaks a business rule (e.g. a profile, a reference that does not resolve)."""

    status, code = 422, "processing"


class TooManyRequests(FhirError):
    status, code = 429, "throttled"


class NotImplementedFeature(FhirError):
    status, code = 501, "not-supported"


class InternalError(FhirError):
    """Something failed on the server's side (reported inside a batch entry, where a 500 must not end the batch)."""

    status, code, severity = 500, "exception", "fatal"


class ServiceUnavailable(FhirError):
    status, code = 503, "transient"


# SQLSTATEs of characters PostgreSQL cannot store: untranslatable_character (``\u0000`` in jsonb),
# character_not_in_repertoire (NUL in text).
_UNSTORABLE_SQLSTATES = frozenset({"22P05", "22021"})


def unstorable_input(exc: BaseException) -> FhirError | None:
    """A 400 for a database refusal caused by characters in the client's input, else None.

    The validator and the JSON parser refuse control characters first; this is the last line, so
    such input never becomes a 500 wherever it slipped through.
    """
    sqlstate = getattr(exc, "sqlstate", None)
    message = str(exc)
    if sqlstate in _UNSTORABLE_SQLSTATES or (type(exc).__name__ == "DataError" and "NUL" in message):
        return InvalidValue("The input holds characters that cannot be stored (e.g. U+0000); FHIR strings must "
                            "not contain characters below U+0020 other than tab, CR and LF")
    return None
