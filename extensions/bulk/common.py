"""The FHIR Asynchronous Request Pattern as Bulk Data uses it (http://hl7.org/fhir/R4/async.html,
https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request): kick-off answers and who asked.

A kick-off answers 202 with ``Content-Location`` (the status URL ``[base]/bulk/[job]``); without
``Prefer: respond-async`` it is processed the same way (the IG allows either). The job is
the requesting client's: its status, cancellation and files answer only to that client (the
``client_id`` of its access token; no client when authorization is off).
"""

from __future__ import annotations

from typing import Any

from fhir_server import access
from fhir_server.errors import BadRequest, Forbidden, operation_outcome
from fhir_server.operations import OperationResult

Json = dict[str, Any]
RUNNERS: dict[int, Any] = {}  # id(server) → its extensions.bulk.runner.BulkRunner
NDJSON_TYPES = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson", "application/x-ndjson"})


def caller() -> str | None:
    """The client behind the current request's access token (None: authorization is off)."""
    principal = getattr(access.current(), "principal", None)
    client = getattr(principal, "client_id", None)
    return client if isinstance(client, str) else None


def check_caller(client_id: str | None) -> None:
    if client_id != caller():
        raise Forbidden("This bulk job was started by another client")


def prefer_flags(headers: dict[str, str]) -> tuple[bool, bool]:
    """(respond-async asked, handling=lenient asked) from the Prefer header."""
    parts = [p.strip().lower() for p in headers.get("prefer", "").replace(";", ",").split(",")]
    return "respond-async" in parts, "handling=lenient" in parts


def status_url(base: str, job_id: str) -> str:
    return f"{base}/bulk/{job_id}"


def file_url(base: str, job_id: str, file_no: int) -> str:
    return f"{base}/bulk/{job_id}/{file_no}.ndjson"


def accepted(base: str, job_id: str, what: str, notes: list[str] | None = None) -> OperationResult:
    """202 Accepted, ``Content-Location`` the status URL, and an OperationOutcome saying so."""
    url = status_url(base, job_id)
    issues: list[Json] = [{"severity": "information", "code": "informational",
                           "diagnostics": f"{what} accepted; poll {url} for its status"}]
    issues += [{"severity": "warning", "code": "not-supported", "diagnostics": n} for n in notes or []]
    return OperationResult(status=202, resource=operation_outcome(issues), headers={"Content-Location": url})


def comma_values(values: list[Any], name: str) -> list[str]:
    """A parameter given as comma-separated values, possibly repeated (Bulk Data IG: both mean the same)."""
    out: list[str] = []
    for v in values:
        if not isinstance(v, str):
            raise BadRequest(f"Parameter '{name}' must be a string")
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


def wake(server: Any) -> None:
    """A job was queued: let this process's runner look for it now (others look every second)."""
    found = RUNNERS.get(id(server))
    if found is not None:
        found.wake()
