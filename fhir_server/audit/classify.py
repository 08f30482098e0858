"""AuditEvent.subtype and .action (R4 valueset-audit-event-sub-type, codesystem-restful-interaction,
codesystem-audit-event-action): which FHIR interaction an HTTP request is, from its method and path.

The REST routes (http.html#summary) give the interaction; BALP gives the action: create C,
read/vread/history R, update/patch U, delete D, search, operations, batch/transaction E. Logins
and token requests of the authorization server are their own kinds. Paths that carry no health
data or identity (``/metadata``, discovery, the authorization pages, health checks, metrics) are not
audited; any other path (a Bulk Data status or file) is audited with its path and no interaction code.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server import definitions

ACTIONS = {
    "create": "C", "read": "R", "vread": "R", "update": "U", "patch": "U", "delete": "D",
    "history-instance": "R", "history-type": "R", "history-system": "R",
    "search-type": "E", "search-system": "E", "operation": "E", "batch": "E", "transaction": "E",
}
READS = frozenset({"read", "vread", "history-instance", "history-type", "history-system", "search-type",
                   "search-system"})
WRITES = frozenset({"create", "update", "patch", "delete"})
_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
NOT_AUDITED = ("/.well-known/", "/auth/", "/webhooks/")
NOT_AUDITED_EXACT = ("/metadata", "/metrics", "/healthz", "/readyz")


@dataclass(frozen=True, slots=True)
class Interaction:
    kind: str  # rest | login | token
    code: str | None  # restful-interaction code (None: a request that matched no interaction)
    res_type: str | None = None
    res_id: str | None = None
    version: str | None = None
    operation: str | None = None
    compartment: str | None = None  # Patient/123 for GET Patient/123/Observation

    @property
    def action(self) -> str:
        return ACTIONS.get(self.code or "", "E")


UNKNOWN = Interaction("rest", None)


def classify(method: str, path: str) -> Interaction | None:
    """The interaction of a request; None for requests that are not audited."""
    if method == "POST" and path == "/auth/login":
        return Interaction("login", None)
    if method == "POST" and path == "/auth/token":
        return Interaction("token", None)
    if path in NOT_AUDITED_EXACT or path.startswith(NOT_AUDITED):
        return None
    parts = [p for p in path.split("/") if p]
    if method == "HEAD":
        method = "GET"
    if not parts:
        return Interaction("rest", "search-system" if method == "GET" else "batch" if method == "POST" else None)
    head = parts[0]
    if head not in definitions.resource_types() and head != "_history" and not head.startswith("$"):
        return UNKNOWN  # not a FHIR interaction (e.g. a Bulk Data file): audited with its path
    if head == "_history":
        return Interaction("rest", "history-system") if len(parts) == 1 else UNKNOWN
    if head.startswith("$"):
        return Interaction("rest", "operation", operation=head[1:]) if len(parts) == 1 else UNKNOWN
    if len(parts) == 1:
        return Interaction("rest", "search-type" if method == "GET" else _BY_METHOD.get(method), head)
    second = parts[1]
    if len(parts) == 2:
        if second == "_search":
            return Interaction("rest", "search-type", head)
        if second == "_history":
            return Interaction("rest", "history-type", head)
        if second.startswith("$"):
            return Interaction("rest", "operation", head, operation=second[1:])
        return Interaction("rest", "read" if method == "GET" else _BY_METHOD.get(method), head, second)
    third = parts[2]
    if len(parts) == 3:
        if third == "_history":
            return Interaction("rest", "history-instance", head, second)
        if third.startswith("$"):
            return Interaction("rest", "operation", head, second, operation=third[1:])
        return Interaction("rest", "search-type", third, compartment=f"{head}/{second}")
    if len(parts) == 4 and third == "_history":
        return Interaction("rest", "vread", head, second, parts[3])
    return UNKNOWN
