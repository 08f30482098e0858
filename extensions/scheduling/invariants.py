"""Slot/Appointment invariants (http://hl7.org/fhir/R4/appointment.html#statemachine, slot.html), for every
write path: an Appointment takes only free slots, taking marks them busy (busy-tentative while
pending), releasing frees them, and a slot is never taken twice.

Held in PostgreSQL, so that they hold across server processes: the Slot rows are locked
(``SELECT … FOR UPDATE``, in row order) before anything is decided, and ``scheduling_claim`` has
the slot id as primary key. Lock order everywhere: Appointment row → Slot rows → claim rows.
Runs as a write guard (``fhir_server.interactions.common.register_write_guard``) after an
Appointment or Slot write is staged, inside the same transaction, so plain CRUD, conditional
operations, transaction Bundles and the scheduling operations all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from extensions.scheduling.workflow import OCCUPY, Json, current, hold_expiry, slot_ids, staged
from fhir_server.errors import BadRequest, Conflict
from fhir_server.fhir.json import instant
from fhir_server.interactions.common import register_write_guard
from fhir_server.storage.writes import WriteSession, Written


@dataclass(slots=True)
class Claim:
    slot_id: str
    appointment_id: str
    kind: str
    expires_at: datetime | None

    def describe(self) -> str:
        if self.kind == "hold" and self.expires_at is not None:
            return f"held by Appointment/{self.appointment_id} until {instant(self.expires_at)}"
        return f"booked by Appointment/{self.appointment_id}"


async def claims(session: WriteSession, slots: list[str], appointment_id: str | None = None,
                 lock: bool = False) -> dict[str, Claim]:
    """Claims on these slots (and of this appointment), slot id → claim."""
    sql = ("SELECT slot_id, appointment_id, kind, expires_at FROM scheduling_claim "
           "WHERE slot_id = ANY(%s) OR appointment_id = %s ORDER BY slot_id" + (" FOR UPDATE" if lock else ""))
    cur = await session.conn.execute(sql, (slots, appointment_id))
    return {r[0]: Claim(*r) for r in await cur.fetchall()}


@dataclass(slots=True)
class Taken:
    slots: dict[str, Json]  # slot id → Slot, for the slots this server has
    mine: set[str]  # the slots this appointment had claimed before


async def take(session: WriteSession, appointment_id: str, wanted: list[str], target: str | None = None,
               new: bool = False) -> Taken:
    """Lock the slots and check that this appointment may take them.

    A slot is available when it is free and unclaimed, or already claimed by this appointment, or
    written in this same transaction with the status the appointment gives it (``target``).
    Slots this server does not have are not checked (references to other servers are allowed).
    ``new``: the appointment has just been created (it claims nothing yet).
    """
    before = {} if new else await claims(session, wanted, appointment_id)
    every = sorted(set(wanted) | set(before))
    await session.lock([("Slot", s) for s in every])
    held = await claims(session, every, appointment_id, lock=True)
    found: dict[str, Json] = {}
    for sid in every:
        slot = await current(session, "Slot", sid)
        if slot is not None:
            found[sid] = slot
    for sid in wanted:
        claim = held.get(sid)
        if claim is not None and claim.appointment_id != appointment_id:
            raise Conflict(f"Slot/{sid} is not available: {claim.describe()}")
        slot = found.get(sid)
        fresh = target is not None and slot is not None and slot.get("status") == target and staged(
            session, "Slot", sid)
        if claim is None and slot is not None and slot.get("status") != "free" and not fresh:
            raise Conflict(f"Slot/{sid} is not available: its status is {slot.get('status')}")
    return Taken(found, {sid for sid, claim in held.items() if claim.appointment_id == appointment_id})


async def _set_status(session: WriteSession, sid: str, slot: Json, status: str) -> None:
    if slot.get("status") == status:
        return
    if staged(session, "Slot", sid):
        raise BadRequest(f"Slot/{sid} is written in this transaction as {slot.get('status')}, but the "
                         f"Appointment taking it needs it {status}: write the Slot as {status} or leave it out")
    await session.stage_update("Slot", sid, {**slot, "status": status})


async def appointment_written(session: WriteSession, written: Written) -> None:
    """Bring the claims and the slots' statuses in line with the Appointment as written."""
    new = written.resource
    status = new.get("status") if new else None
    wanted = slot_ids(new) if new and status in OCCUPY else []
    taken = await take(session, written.id, wanted, OCCUPY.get(str(status)), new=written.created)
    found = taken.slots
    expires = hold_expiry(new) if new else None
    kind = "hold" if expires is not None else "booked"
    for sid in wanted:
        if sid not in found:
            continue
        await session.conn.execute(
            "INSERT INTO scheduling_claim (slot_id, appointment_id, kind, expires_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (slot_id) DO UPDATE SET kind = EXCLUDED.kind, expires_at = EXCLUDED.expires_at "
            "WHERE scheduling_claim.appointment_id = EXCLUDED.appointment_id",
            (sid, written.id, kind, expires))
        await _set_status(session, sid, found[sid], OCCUPY[str(status)])
    for sid in sorted(taken.mine - set(wanted)):
        await session.conn.execute("DELETE FROM scheduling_claim WHERE slot_id = %s AND appointment_id = %s",
                                   (sid, written.id))
        slot = found.get(sid)
        if slot is not None and slot.get("status") in ("busy", "busy-tentative"):
            await _set_status(session, sid, slot, "free")


async def slot_written(session: WriteSession, written: Written) -> None:
    """A taken slot may not be freed or deleted directly: cancel (or move) its Appointment."""
    cur = await session.conn.execute(
        "SELECT slot_id, appointment_id, kind, expires_at FROM scheduling_claim WHERE slot_id = %s FOR UPDATE",
        (written.id,))
    row = await cur.fetchone()
    if row is None:
        return
    claim = Claim(*row)
    if written.resource is None:
        raise Conflict(f"Slot/{written.id} cannot be deleted: it is {claim.describe()}")
    if written.resource.get("status") == "free":
        raise Conflict(f"Slot/{written.id} cannot be made free: it is {claim.describe()}; cancel that appointment")


register_write_guard("Appointment", appointment_written)
register_write_guard("Slot", slot_written)
