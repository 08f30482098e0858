"""AuditEvent for every read, search, operation, login, token request and failure (R4 auditevent.html,
IHE BALP), recorded at the HTTP boundary.

A plain ASGI middleware outside the authorization guard (so that refused requests are seen too).
It runs each audited request inside an ``AuditRequest`` and holds the response back until its fact
is committed (``Audit.record``): the answer's status line leaves only after the audit record of it
is durable. When the fact cannot be stored the response is withheld and the client gets 503. A
write interaction that changed something has its fact written with the change (``capture``), so
the middleware adds nothing for it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.audit.classify import classify
from fhir_server.audit.context import AuditRequest, auditing
from fhir_server.audit.recorder import AuditUnavailable
from fhir_server.errors import operation_outcome
from fhir_server.fhir.json import dumps

log = logging.getLogger(__name__)
_UNAVAILABLE = operation_outcome([{"severity": "error", "code": "transient",
                                   "diagnostics": "The audit trail is not available: the response is withheld"}])


def describe(body: bytes) -> str | None:
    """The reason of an error answer: an OperationOutcome's diagnostics or an OAuth error description."""
    if not body or len(body) > 65536 or body[:1] != b"{":
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("error"), str):
        return f"{data['error']}: {data.get('error_description', '')}".strip(": ")
    issues = data.get("issue")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        text = issues[0].get("diagnostics") or issues[0].get("code")
        return str(text) if text else None
    return None


def etag_version(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"etag":
            text = value.decode("latin-1").strip()
            return text[3:-1] if text.startswith('W/"') and text.endswith('"') else None
    return None


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        audit = getattr(scope["app"].state, "audit", None) if scope["type"] == "http" else None
        if audit is None or audit.mode == "off":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        what = classify(scope["method"], path)
        if what is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        req = AuditRequest(scope["method"], path, scope.get("query_string", b"").decode("latin-1"),
                           client[0] if client else None)
        held: list[Message] = []
        state = {"sent": False, "withheld": False}

        async def audited_send(message: Message) -> None:
            if state["withheld"]:
                return
            if state["sent"]:
                await send(message)
                return
            if message["type"] == "http.response.start":
                req.identify()
                held.append(message)
                return
            start = held[0]
            body = message.get("body", b"")
            extra: dict[str, Any] = {}
            if what.code in ("read", "vread") and start["status"] < 300:
                extra["vid"] = etag_version(start.get("headers", []))
            try:
                await audit.record(req, what, start["status"], body, **extra)
            except AuditUnavailable:
                state["withheld"] = True
                await _unavailable(send)
                return
            state["sent"] = True
            await send(start)
            await send(message)

        with auditing(req):
            try:
                await self.app(scope, receive, audited_send)
            except Exception:
                if not state["sent"] and not state["withheld"]:
                    try:
                        await audit.record(req, what, 500, b"", desc="Internal server error")
                    except AuditUnavailable:
                        log.error("the audit fact of a failed request could not be stored")
                raise
        if req.wrote:
            audit.worker.wake()


async def _unavailable(send: Send) -> None:
    body = dumps(_UNAVAILABLE)
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/fhir+json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"5")]})
    await send({"type": "http.response.body", "body": body})
