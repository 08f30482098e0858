"""The outbox dispatcher: at-least-once hand-off of committed changes to the consumers.

Runs inside ``fhir-server serve`` as a background task, in any number of server processes at once:

- ``LISTEN fhir_outbox`` wakes it when a transaction with changes commits (a poll every few
  seconds covers missed notifications);
- one fan-out at a time across all processes (a transaction-scoped advisory lock), so that
  consumers see changes in commit order per resource (a resource's versions are written under its
  row lock, so their outbox ``seq`` follows version order);
- a batch is claimed ``FOR UPDATE SKIP LOCKED``, given to every consumer in the same database
  transaction, and deleted: if a process dies mid-batch, the transaction rolls back and the rows
  wait for the next dispatcher. No change is lost; a consumer may see a change twice only if its
  own side effects escape the transaction (e.g. an HTTP call), which is why deliveries are queued
  in the database and sent by their own workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

log = logging.getLogger(__name__)
FANOUT_LOCK = 727_002
BATCH = 500
POLL_SECONDS = 5.0
DEBOUNCE = 0.02


@dataclass(slots=True, frozen=True)
class Change:
    seq: int
    created: datetime
    rid: int
    res_type: str
    id: str
    version: int
    action: str  # create | update | delete


Consumer = Callable[[psycopg.AsyncConnection[Any], list[Change]], Awaitable[None]]
"""``consumer(conn, changes)`` runs inside the dispatch transaction; an exception retries the batch.
Consumers live in ``Server.consumers`` (by name), the dict the server's dispatcher reads."""


async def dispatch_once(conn: psycopg.AsyncConnection[Any], consumers: dict[str, Consumer], batch: int = BATCH) -> int:
    """Hand one batch of changes to the consumers; returns how many (0: nothing, or another process is at it)."""
    async with conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (FANOUT_LOCK,))
        row = await cur.fetchone()
        if not row or not row[0]:
            return 0
        cur = await conn.execute(
            "SELECT seq, created, rid, res_type, id, version, action FROM outbox "
            "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED",
            (batch,),
        )
        changes = [Change(*r) for r in await cur.fetchall()]
        if not changes:
            return 0
        for name, consumer in list(consumers.items()):
            try:
                await consumer(conn, changes)
            except Exception:
                log.exception("outbox consumer %s failed; the batch will be retried", name)
                raise
        await conn.execute("DELETE FROM outbox WHERE seq = ANY(%s)", ([c.seq for c in changes],))
    return len(changes)


class Dispatcher:
    """The background task: wait for a notification (or the poll interval), then drain the outbox."""

    def __init__(self, url: str, consumers: dict[str, Consumer], poll: float = POLL_SECONDS,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.consumers = consumers
        self.on_notice = on_notice  # payloads of NOTIFY fhir_definitions (definitions changed elsewhere)
        self.poll = poll
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("LISTEN fhir_outbox")
            await conn.execute("LISTEN fhir_definitions")
            async for note in conn.notifies():
                if note.channel == "fhir_definitions":
                    if self.on_notice is not None:
                        self.on_notice(note.payload)
                else:
                    self._wake.set()

    async def _run(self) -> None:
        listener = asyncio.create_task(self._listen_forever())
        try:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                while not self._stopping:
                    try:
                        while await dispatch_once(conn, self.consumers) == BATCH:
                            pass
                    except (psycopg.Error, Exception):
                        log.exception("outbox dispatch failed; retrying")
                        await asyncio.sleep(1.0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll)
                    await asyncio.sleep(DEBOUNCE)  # let a burst of commits gather into one batch
                    self._wake.clear()
        finally:
            listener.cancel()

    async def _listen_forever(self) -> None:
        while not self._stopping:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox LISTEN connection lost; reconnecting")
                await asyncio.sleep(1.0)
