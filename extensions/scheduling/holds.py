"""Hold expiry (Argonaut Scheduling $hold: "the hold expires"): an expired hold frees its slots by itself.

A hold is a pending Appointment with a hold-expires extension; its claims carry ``expires_at``.
Expired holds are released (the Appointment cancelled with reason "hold expired", its slots made
free again by the invariants guard) whenever a scheduling operation touches their slots, and by
a sweeper task that each server process runs every few seconds once it has served a scheduling
operation. Several processes may sweep at once: each hold is re-checked under its row lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

from extensions.scheduling.workflow import hold_expiry, load, without_hold, write_tx
from fhir_server.access import OPEN, acting_as
from fhir_server.interactions import update
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession

log = logging.getLogger(__name__)
SWEEP_SECONDS = 5.0
EXPIRED_REASON = "hold expired"
_sweepers: dict[int, asyncio.Task[None]] = {}


async def release_expired(server: Server, session: WriteSession, slots: list[str] | None = None,
                          limit: int = 100) -> list[str]:
    """Cancel the expired holds (on these slots, or any); returns the Appointment ids released."""
    cur = await session.conn.execute(
        "SELECT DISTINCT appointment_id FROM scheduling_claim WHERE kind = 'hold' AND expires_at <= %s "
        + ("AND slot_id = ANY(%s) " if slots is not None else "") + "ORDER BY appointment_id LIMIT %s",
        (session.now, slots, limit) if slots is not None else (session.now, limit))
    released = []
    with acting_as(OPEN):  # the server releases them, whoever's request noticed
        for appointment_id in [r[0] for r in await cur.fetchall()]:
            if await _release(server, session, appointment_id):
                released.append(appointment_id)
    return released


async def _release(server: Server, session: WriteSession, appointment_id: str) -> bool:
    await session.lock([("Appointment", appointment_id)])
    appt = await load(session.conn, "Appointment", appointment_id)
    expires = hold_expiry(appt) if appt else None
    if appt is None or expires is None or expires > session.now:
        if appt is None:  # the Appointment is gone: only its claims are left
            await session.conn.execute("DELETE FROM scheduling_claim WHERE appointment_id = %s", (appointment_id,))
        return False
    cancelled = {**without_hold(appt), "status": "cancelled", "cancelationReason": {"text": EXPIRED_REASON}}
    await update.update(server, session, "Appointment", appointment_id, cancelled)
    return True


async def sweep_once(server: Server) -> int:
    async with write_tx(server) as session:
        return len(await release_expired(server, session))


async def _sweep_forever(server: Server, every: float) -> None:
    while True:
        try:
            await sweep_once(server)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed sweep is retried on the next round
            log.exception("releasing expired holds failed")
        await asyncio.sleep(every)


def ensure_sweeper(server: Server, every: float = SWEEP_SECONDS) -> None:
    """Start this process's sweeper (once per server) on the running event loop."""
    task = _sweepers.get(id(server))
    if task is not None and not task.done():
        return
    # A fresh context: the task must not keep the access of the request that happened to start it.
    _sweepers[id(server)] = asyncio.get_running_loop().create_task(_sweep_forever(server, every),
                                                                   context=contextvars.Context())
