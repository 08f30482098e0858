"""The audit trail (R4 auditevent.html, after IHE Basic Audit Log Patterns): an AuditEvent for every
read, search, history, write, operation, login, token issue and failed authorization.

Recorded cheaply and durably when it happens — a write's fact in the write's own transaction
(``capture``: a trigger on the outbox), any other fact committed before the response leaves
(``middleware`` + ``recorder``: group commit) — and turned into AuditEvent resources in the
background (``worker``: ``FOR UPDATE SKIP LOCKED``, one transaction per batch), so none is lost.
AuditEvents are searchable like any resource (patient, agent, date, action, ...) and cannot be
changed through the API (``protect``). ``service.Audit`` runs it in a server process.
"""

from fhir_server.audit.context import annotate

__all__ = ["annotate"]
