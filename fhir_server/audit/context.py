"""AuditEvent.agent (R4 auditevent.html#AuditEvent.agent): who is behind the request being served.

Each audited request (and each chat action) runs with an ``AuditRequest`` in a context variable:
its id, method, path, query and the client's network address, and — once the authorization layer
has identified the caller — the OAuth client, the user and the patient in context. Code deeper in
the stack adds what only it knows (``annotate``: the username at login, the client at the token
endpoint) and marks that it wrote (``wrote``), so the write's own audit fact stands for the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fhir_server import access

Json = dict[str, Any]


@dataclass(slots=True)
class AuditRequest:
    method: str
    path: str
    query: str = ""
    ip: str | None = None
    rid: str = field(default_factory=lambda: uuid.uuid4().hex)
    notes: dict[str, str] = field(default_factory=dict)
    principal: Any = None  # smart_auth.tokens.Principal when the caller presented a valid token
    wrote: bool = False

    def identify(self) -> None:
        """Take the caller from the access the authorization layer set for this request (if any)."""
        found = getattr(access.current(), "principal", None)
        if found is not None:
            self.principal = found

    def agent(self) -> Json:
        """The caller as stored with a fact: client, subject, user, patient, network address."""
        out: Json = {}
        p = self.principal
        if p is not None:
            out["client"] = p.client_id
            if p.subject != p.client_id:
                out["username"] = p.subject
            if p.fhir_user:
                out["user"] = p.fhir_user
            if p.patient:
                out["patient"] = p.patient
            out["scope"] = p.scopes.text
        for key in ("client", "username", "user", "patient", "scope"):
            if key in self.notes and key not in out:
                out[key] = self.notes[key]
        if self.ip:
            out["ip"] = self.ip
        return out

    def context(self) -> Json:
        """What a write made during this request records with its change (the ``fhir.audit`` setting)."""
        ctx: Json = sanitized({"rq": self.rid, "m": self.method, "p": self.path, "q": self.query,
                               "agent": self.agent()})
        return ctx


def sanitized(value: Any) -> Any:
    """``value`` with NUL characters replaced (PostgreSQL text and JSONB cannot hold U+0000, and a decoded
    path or query may carry one)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {sanitized(k): sanitized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitized(v) for v in value]
    return value


_current: ContextVar[AuditRequest | None] = ContextVar("fhir_audit_request", default=None)


def current() -> AuditRequest | None:
    return _current.get()


@contextmanager
def auditing(request: AuditRequest) -> Iterator[AuditRequest]:
    """Run the block as part of ``request`` (the middleware and the chat endpoint wrap their work in this)."""
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)


def annotate(**notes: str | None) -> None:
    """Add facts only the code deep in a request knows (e.g. the username typed at login)."""
    req = _current.get()
    if req is not None:
        req.notes.update({k: v for k, v in notes.items() if v})
