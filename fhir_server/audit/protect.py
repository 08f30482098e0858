"""AuditEvent is read-only through the API (R4 auditevent.html: "AuditEvents are created by the
systems that record them"; IHE BALP): create, update, patch and delete by clients answer 405.
It is also not patient-facing data: one AuditEvent may name several patients (a clinician's search
or transaction), so patient/ scopes and patient users do not reach AuditEvents, although the type
is in the Patient compartment; user/ and system/ scopes that grant AuditEvent read them.

Two guards: routes placed before the generic ``/{type}`` routes refuse the REST writes at once
(before validation, whatever the body), and a write guard refuses an AuditEvent entry of a batch or
transaction Bundle (or any other interaction-level write). The audit workers write AuditEvents with
``WriteSession`` directly and are not affected. Reads and searches go through the ordinary routes
and scopes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fhir_server.errors import MethodNotAllowed
from fhir_server.interactions.common import register_write_guard
from fhir_server.search.sql import Cond
from fhir_server.storage.writes import WriteSession, Written

MESSAGE = ("AuditEvent resources are recorded by the server itself: they cannot be created, changed or deleted "
           "through the API")
ALLOW = {"Allow": "GET, HEAD"}


async def refuse(request: Request) -> Response:
    raise MethodNotAllowed(MESSAGE, headers=ALLOW)


async def refuse_write(session: WriteSession, written: Written) -> None:
    raise MethodNotAllowed(MESSAGE, headers=ALLOW)


def routes() -> list[BaseRoute]:
    return [
        Route("/AuditEvent", refuse, methods=["POST", "PUT", "PATCH", "DELETE"]),
        Route("/AuditEvent/{id}", refuse, methods=["PUT", "PATCH", "DELETE"]),
    ]


def install_write_refusal() -> None:
    register_write_guard("AuditEvent", refuse_write)


class NotPatientFacing:
    """The ``fhir_server.access.RowRule`` of AuditEvent: nothing through patient/ scopes or for patient users."""

    @staticmethod
    def _patient_facing(reader: str | None, context: str) -> bool:
        return context == "patient" or (reader or "").startswith("Patient/")

    def sql(self, registry: Any, reader: str | None, context: str) -> Cond:
        return Cond("false") if self._patient_facing(reader, context) else Cond("true")

    def allows(self, indexer: Any, reader: str | None, context: str, resource: dict[str, Any]) -> bool:
        return not self._patient_facing(reader, context)
