"""Real-time delivery of chat messages (R4 communication.html) to their participants on any server process.

Every committed Communication change is announced by PostgreSQL on ``fhir_chat`` (migration 0008,
a trigger on the outbox: at commit, whatever wrote it — the chat socket, REST, a transaction).
Each process LISTENs and, when one of the message's participants has a socket open there, loads
that version and pushes it: ``message`` for a new Communication, ``update`` for a later version
(a read receipt). Before a push the socket's own token is asked again — it must still be valid and
allow reading that Communication — and the disclosure is audited like a read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from starlette.websockets import WebSocket

from fhir_server.access import Access
from fhir_server.audit.classify import Interaction
from fhir_server.audit.context import AuditRequest
from fhir_server.audit.recorder import AuditUnavailable
from fhir_server.chat.privacy import references
from fhir_server.chat.protocol import frame
from fhir_server.errors import FhirError
from fhir_server.storage.crypto import content_bytes, content_sql

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Member:
    """One open chat socket: its user (``Practitioner/1``), its access and the token behind it."""

    ws: WebSocket
    user: str
    access: Access
    principal: Any = None  # smart_auth.tokens.Principal (None when authorization is off)
    ip: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def expired(self) -> bool:
        return self.principal is not None and time.time() >= self.principal.expires

    def request(self, method: str, path: str) -> AuditRequest:
        return AuditRequest(method, path, "", self.ip, principal=self.principal)

    async def send(self, text: str) -> None:
        async with self.lock:
            await self.ws.send_text(text)

    def may_read(self, content: dict[str, Any]) -> bool:
        if not self.access.restricted:
            return True
        try:
            self.access.require("read", "Communication")
        except FhirError:
            return False
        return self.access.permits("read", "Communication", content)


class ChatHub:
    def __init__(self, server: Any, audit: Any) -> None:
        self.server, self.audit = server, audit
        self.members: dict[str, set[Member]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def add(self, member: Member) -> None:
        self.members[member.user].add(member)

    def remove(self, member: Member) -> None:
        found = self.members.get(member.user)
        if found is not None:
            found.discard(member)
            if not found:
                del self.members[member.user]

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="chat-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _listen_forever(self) -> None:
        url = self.server.settings.database_url
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute("LISTEN fhir_chat")
                    async for note in conn.notifies():
                        try:
                            await self.forward(note.payload)
                        except Exception:
                            log.exception("chat message %s not pushed", note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("chat hub lost its LISTEN connection; reconnecting")
                await asyncio.sleep(1.0)

    async def forward(self, payload: str) -> None:
        """Push one announced change (``'<id> <version> <action>'``) to the participants connected here."""
        parts = payload.split(" ")
        if len(parts) != 3 or not parts[1].isdigit() or parts[2] == "delete" or not self.members:
            return
        comm_id, version = parts[0], int(parts[1])
        async with self.server.pool.connection() as conn:
            cur = await conn.execute(f"SELECT {content_sql('h')} FROM resource_history h WHERE h.res_type = "
                                     "'Communication' AND h.id = %s AND h.version = %s", (comm_id, version))
            row = await cur.fetchone()
        raw = content_bytes(row[0]) if row is not None else None
        if raw is None:
            return
        content = orjson.loads(raw)
        senders, recipients = references(self.server.indexer, content)
        targets = [(m, u in recipients) for u in dict.fromkeys([*senders, *recipients])
                   for m in list(self.members.get(u, ()))]
        kind = "message" if version == 1 else "update"
        text = frame(kind, communication=orjson.Fragment(raw))
        await asyncio.gather(*(self._push(m, text, content, comm_id, version, audited)
                               for m, audited in targets))

    async def _push(self, member: Member, text: str, content: dict[str, Any], comm_id: str, version: int,
                    audited: bool) -> None:
        if member.expired or not member.may_read(content):
            return
        if audited and self.audit is not None:
            what = Interaction("rest", "read", "Communication", comm_id, str(version))
            try:
                await self.audit.record(member.request("GET", f"/Communication/{comm_id}"), what, 200)
            except AuditUnavailable:
                log.error("chat message %s withheld: its audit record could not be stored", comm_id)
                return
        try:
            await member.send(text)
        except Exception:
            self.remove(member)
