"""The audit trail in a server process (R4 auditevent.html; DESIGN.md "PostgreSQL carries ... the audit
trail"): settings, the request-time recorder, the background worker, and the app wiring.

``FHIR_AUDIT`` chooses what is recorded: ``all`` (default: every read, search, history, operation,
write, login, token request and failure), ``writes`` (all but successful reads, searches and
history: the read path pays nothing), ``off`` (nothing; the process's connections also turn the
write trigger off). ``FHIR_AUDIT_RETENTION_DAYS`` (0: keep forever) removes older AuditEvents,
checked every ``FHIR_AUDIT_PURGE_SECONDS``. ``FHIR_AUDIT_SYNC_COMMIT=0`` makes request-time facts
cheaper at the price described in ``recorder``.
"""

from __future__ import annotations

from typing import Any

from fhir_server.access import register_row_rule
from fhir_server.audit import capture, protect
from fhir_server.audit.classify import READS, WRITES, Interaction
from fhir_server.audit.context import AuditRequest, sanitized
from fhir_server.audit.middleware import AuditMiddleware, describe
from fhir_server.audit.recorder import Recorder
from fhir_server.audit.worker import Worker

Json = dict[str, Any]
MODES = ("all", "writes", "off")


class Audit:
    def __init__(self, server: Any, base: str) -> None:
        settings = server.settings
        self.mode: str = settings.audit if settings.audit in MODES else "all"
        assert settings.database_url
        self.recorder = Recorder(settings.database_url, settings.audit_sync_commit)
        self.worker = Worker(server, base, settings.audit_retention_days, settings.audit_purge_seconds)
        self.recorder.on_commit.append(self.worker.wake)
        protect.install_write_refusal()
        if self.mode != "off":
            capture.install_write_capture()

    def start(self) -> None:
        """The worker runs in every process (it also drains what other processes queued, and purges)."""
        if self.mode != "off":
            self.recorder.start()
        self.worker.start()

    async def stop(self) -> None:
        await self.recorder.stop()
        await self.worker.stop()

    def wanted(self, req: AuditRequest, what: Interaction, status: int) -> bool:
        if self.mode == "off":
            return False
        if what.code in WRITES and req.wrote and status < 400:
            return False  # its change carries the fact (``capture``)
        return not (self.mode == "writes" and status < 400 and what.code in READS)

    async def record(self, req: AuditRequest, what: Interaction, status: int, body: bytes = b"",
                     vid: str | None = None, desc: str | None = None) -> None:
        """Store the fact of a finished request (returns once it is committed; ``AuditUnavailable`` if not)."""
        if not self.wanted(req, what, status):
            return
        code = what.code
        if code == "batch":
            code = req.notes.get("bundle") if req.notes.get("bundle") in ("batch", "transaction") else None
        fact: Json = {"rq": req.rid, "kind": what.kind, "code": code, "m": req.method, "p": req.path,
                      "q": req.query, "status": status, "agent": req.agent()}
        for key, value in (("type", what.res_type), ("id", what.res_id), ("vid", vid or what.version),
                           ("op", what.operation), ("cmp", what.compartment)):
            if value:
                fact[key] = value
        if status >= 400:
            fact["desc"] = desc or req.notes.get("error") or describe(body) or f"HTTP {status}"
        await self.recorder.record(sanitized(fact))


def install(app: Any) -> None:
    """The refusal routes, the read rule and the middleware (outermost: it sees the guard's refusals)."""
    app.router.routes[:0] = protect.routes()
    register_row_rule("AuditEvent", protect.NotPatientFacing())
    app.add_middleware(AuditMiddleware)
