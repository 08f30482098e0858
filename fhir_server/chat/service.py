"""Chat between patients and practitioners over Communication (R4 communication.html): sending stores a
Communication, a read receipt sets its ``received``.

Both go through the ordinary interactions (create; read + update with ``If-Match``) under the
socket's own access, so the scopes, the conversation privacy rule, validation, the outbox (search,
subscriptions, the push to the other participants) and the audit trail treat a chat message exactly
like a REST write. Only a recipient may confirm receipt; a receipt is set once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

from fhir_server.access import acting_as
from fhir_server.audit.classify import Interaction
from fhir_server.audit.context import auditing
from fhir_server.chat.hub import ChatHub, Member
from fhir_server.chat.privacy import references
from fhir_server.chat.protocol import communication
from fhir_server.errors import FhirError, Forbidden, PreconditionFailed
from fhir_server.fhir.json import instant, now
from fhir_server.interactions import create, read, update
from fhir_server.storage.writes import WriteSession

Json = dict[str, Any]
RECEIPT_ATTEMPTS = 3


class Chat:
    """The chat of one server process (``app.state.chat``); ``start``/``stop`` from the app lifespan."""

    def __init__(self, server: Any, audit: Any, auth: Any) -> None:
        self.server, self.audit, self.auth = server, audit, auth
        self.hub = ChatHub(server, audit if audit is not None and audit.mode != "off" else None)

    def start(self) -> None:
        self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

    @contextlib.contextmanager
    def _as(self, member: Member, method: str, path: str, what: Interaction) -> Iterator[Any]:
        """Run as the socket's user, with its audit context (failures are audited by ``_failed``)."""
        req = member.request(method, path)
        with acting_as(member.access):
            if self.hub.audit is None:
                yield None
                return
            with auditing(req):
                yield req

    async def _failed(self, req: Any, what: Interaction, exc: FhirError) -> None:
        if req is not None:
            await self.audit.record(req, what, exc.status, desc=exc.diagnostics)

    async def send(self, member: Member, data: Json) -> Json:
        """Store the message of a ``send`` frame; the stored Communication."""
        comm = communication(member.user, data, instant(now()))
        what = Interaction("rest", "create", "Communication")
        with self._as(member, "POST", "/Communication", what) as req:
            try:
                async with self.server.pool.connection() as conn, conn.transaction():
                    session = WriteSession(conn, self.server.indexer, now())
                    outcome = await create.create(self.server, session, "Communication", comm)
                    await session.flush()
            except FhirError as exc:
                await self._failed(req, what, exc)
                raise
        self.server.after_commit(session.touched)
        if req is not None:
            self.audit.worker.wake()
        assert outcome.resource is not None
        return outcome.resource

    async def receipt(self, member: Member, comm_id: str) -> Json:
        """Set ``received`` on a Communication addressed to the socket's user (once); the stored version."""
        what = Interaction("rest", "update", "Communication", comm_id)
        with self._as(member, "PUT", f"/Communication/{comm_id}", what) as req:
            try:
                for attempt in range(RECEIPT_ATTEMPTS):
                    try:
                        return await self._receipt(member, comm_id)
                    except PreconditionFailed:
                        if attempt == RECEIPT_ATTEMPTS - 1:
                            raise
            except FhirError as exc:
                await self._failed(req, what, exc)
                raise
            finally:
                if req is not None and req.wrote:
                    self.audit.worker.wake()
        raise AssertionError("unreachable")

    async def _receipt(self, member: Member, comm_id: str) -> Json:
        async with self.server.pool.connection() as conn, conn.transaction():
            found = await read.read(conn, "Communication", comm_id)
            assert found.raw is not None
            content: Json = orjson.loads(found.raw)
            if member.user not in references(self.server.indexer, content)[1]:
                raise Forbidden(f"Only a recipient of Communication/{comm_id} can confirm that it was received")
            if content.get("received"):
                return content
            content["received"] = instant(now())
            session = WriteSession(conn, self.server.indexer, now())
            outcome = await update.update(self.server, session, "Communication", comm_id, content,
                                          if_match=found.version)
            await session.flush()
        self.server.after_commit(session.touched)
        assert outcome.resource is not None
        return outcome.resource
