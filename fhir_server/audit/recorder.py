"""AuditEvent "written asynchronously but never lost" (R4 auditevent.html; DESIGN.md "the audit trail"):
the request-time half — facts committed to ``audit_queue`` before the response leaves.

One connection per server process and group commit: every fact waiting when the previous INSERT
returns goes into the next one (one statement, one commit, one WAL flush for all of them), and each
request waits only until the commit that holds its fact. A lone request costs one small INSERT; a
busy server shares the commits. When the database does not take the fact, ``record`` raises and
the caller withholds the response (fail closed: no disclosure without its audit record).

By default a commit returns once PostgreSQL has flushed it to disk, so a fact survives even a crash
of the database server; that flush is most of what a read pays. ``FHIR_AUDIT_SYNC_COMMIT=0`` trades
it away: the fact is still committed before the response (no crash of a server process loses it),
but a crash of PostgreSQL itself can lose the last fraction of a second of read facts (the WAL writer
flushes within ``wal_writer_delay``; any later synchronous commit flushes them too). Write facts
always share their write's own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
import psycopg

log = logging.getLogger(__name__)
INSERT = "INSERT INTO audit_queue (kind, data) SELECT 'request', x FROM jsonb_array_elements(%s::jsonb) AS x"
MAX_BATCH = 1000


class AuditUnavailable(Exception):
    """The fact could not be stored."""


class Recorder:
    def __init__(self, url: str, synchronous: bool = True) -> None:
        self.url = url
        self.synchronous = synchronous  # False: commits do not wait for the WAL flush (FHIR_AUDIT_SYNC_COMMIT=0)
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.on_commit: list[Any] = []  # callables run after each commit (wake the local worker)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(AuditUnavailable("the server is stopping"))
        self._pending.clear()
        if self._conn is not None:
            await self._conn.close()

    async def record(self, fact: dict[str, Any]) -> None:
        """Return once ``fact`` is committed; ``AuditUnavailable`` when it cannot be."""
        if self._task is None or self._task.done():
            raise AuditUnavailable("the audit recorder is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((fact, fut))
        self._wake.set()
        await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        payload = orjson.dumps([fact for fact, _ in batch]).decode()
        error: Exception | None = None
        for attempt in range(2):  # a connection that broke since the last batch gets one fresh try
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                    if not self.synchronous:
                        await self._conn.execute("SET synchronous_commit = off")
                await self._conn.execute(INSERT, (payload,))
                error = None
                break
            except psycopg.Error as exc:
                error = exc
                log.warning("audit facts not stored (attempt %d): %s", attempt + 1, exc)
                with contextlib.suppress(Exception):
                    if self._conn is not None:
                        await self._conn.close()
                self._conn = None
        for _, fut in batch:
            if fut.done():
                continue
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(AuditUnavailable(str(error)))
        if error is None:
            for hook in self.on_commit:
                hook()
