"""Medication reminders on a schedule (issue: "reminder Communications through the outbox/subscription mechanism").

Two triggers, both idempotent (each reminder is a conditional create on a fixed identifier):

- a periodic tick (``FHIR_REMINDER_MINUTES``, default 15; 0 turns reminders off) stores, for every
  patient with an active MedicationRequest, the reminders due before the next tick — one process
  at a time does it (advisory lock);
- an outbox consumer: when a MedicationRequest changes, its patient's reminders for the current
  window are stored at once.

The reminder Communications reach the patient like any other change: subscriptions (e.g.
``Communication?recipient=Patient/x&category=reminder``) and the chat read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from extensions.ai.reminders import write_due
from fhir_server import background
from fhir_server.events.dispatcher import Change
from fhir_server.search.conditional import condition

log = logging.getLogger(__name__)
TICK_LOCK = 727_003


def _minutes() -> int:
    raw = os.environ.get("FHIR_REMINDER_MINUTES", "15")
    return int(raw) if raw.isdigit() else 15


def _base(server: Any) -> str:
    s = server.settings
    return str(s.base_url or f"http://{s.host}:{s.port}")


async def _patients(server: Any, ids: list[str] | None = None) -> list[str]:
    # the subjects of the active MedicationRequests, from the index tables (the stored JSON may be sealed)
    active = condition(server.registry, "MedicationRequest", [("status", "active")])
    subject = server.registry.get("MedicationRequest", "subject")
    assert subject is not None, "MedicationRequest.subject is an R4 search parameter"
    sql = ("SELECT DISTINCT ref.target_id FROM resource r JOIN idx_reference ref ON ref.rid = r.rid "
           "AND ref.pid = %s AND ref.target_type = 'Patient' "
           f"WHERE r.res_type = 'MedicationRequest' AND NOT r.deleted AND {active.sql}")
    args: list[Any] = [subject.pid, *active.args]
    if ids is not None:
        sql += " AND r.id = ANY(%s)"
        args.append(ids)
    async with server.pool.connection() as conn:
        cur = await conn.execute(sql, args)
        return [r[0] for r in await cur.fetchall()]


async def remind(server: Any, patients: list[str], minutes: int) -> int:
    start = datetime.now(UTC)
    end = start + timedelta(minutes=minutes)
    made = 0
    for pid in patients:
        try:
            made += len(await write_due(server, pid, start, end, _base(server)))
        except Exception:
            log.exception("reminders for Patient/%s failed", pid)
    return made


async def tick(server: Any, minutes: int) -> int:
    async with server.pool.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (TICK_LOCK,))
        row = await cur.fetchone()
        if not row or not row[0]:
            return 0
        try:
            return await remind(server, await _patients(server), minutes)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (TICK_LOCK,))


async def start(server: Any) -> background.Stop:
    minutes = _minutes()
    if minutes == 0:
        async def nothing() -> None:
            return None

        return nothing
    pending: set[asyncio.Task[int]] = set()

    async def on_changes(conn: Any, changes: list[Change]) -> None:
        ids = [c.id for c in changes if c.res_type == "MedicationRequest" and c.action != "delete"]
        if ids:  # after the dispatch commits; a lost task is covered by the next tick
            task = asyncio.get_running_loop().create_task(_after(ids))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def _after(ids: list[str]) -> int:
        await asyncio.sleep(0.1)
        return await remind(server, await _patients(server, ids), minutes)

    async def loop() -> None:
        while True:
            try:
                await tick(server, minutes)
            except Exception:
                log.exception("reminder tick failed")
            await asyncio.sleep(minutes * 60)

    server.consumers["medication-reminders"] = on_changes
    task = asyncio.get_running_loop().create_task(loop(), name="medication-reminders")

    async def stop() -> None:
        task.cancel()
        for t in list(pending):
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop


background.register("medication-reminders", start)
