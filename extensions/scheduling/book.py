"""Appointment/$book (Argonaut Scheduling IG "appointment-book"): book held or free slots, atomically.

``Appointment/[id]/$book`` books a hold (a pending Appointment from $hold, before it expires) or a
stored proposed Appointment; ``Appointment/$book`` books a proposed Appointment (or slots and a
patient) directly. In one database transaction: lock the Slot rows, check that they are free (or
held by this appointment), book on ZocDoc for a ZocDoc slot, write the Appointment as booked and
the slots as busy. Concurrent bookings of one slot, in any number of server processes, queue on
the Slot's row lock: the first wins, the others get 409 Conflict with an OperationOutcome.
The change reaches subscribers through the outbox, like every write.
"""

from __future__ import annotations

from extensions.scheduling import holds, invariants, remote
from extensions.scheduling.booking import IN_PARAMS, answer, requested
from extensions.scheduling.opdefs import definition
from extensions.scheduling.workflow import (
    Json,
    check_transition,
    current,
    hold_expiry,
    participants,
    slot_ids,
    without_hold,
    write_tx,
)
from fhir_server.errors import BadRequest, Conflict, NotFound
from fhir_server.fhir.json import instant
from fhir_server.interactions import create, update
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.storage.writes import WriteSession, new_id
from mappers import zocdoc

DEFINITION = definition(
    "book", "Book Appointment",
    "Book a hold (instance level) or a proposed Appointment / free slots (type level); 409 if a slot is taken.",
    type_level=True, instance=True, affects_state=True, parameters=[
        *IN_PARAMS,
        ("patient-type", "in", 0, "1", "code", "new | existing (for ZocDoc slots; default new)"),
        ("return", "out", 1, "1", "Appointment", "The booked Appointment (pending while ZocDoc confirms)"),
    ])


async def _stored(session: WriteSession, appt_id: str) -> tuple[Json, dict[str, Json]]:
    """A stored Appointment to book: locked, still bookable, its hold not expired."""
    await session.lock([("Appointment", appt_id)])
    appt = await current(session, "Appointment", appt_id)
    if appt is None:
        raise NotFound(f"Appointment/{appt_id} is not known")
    status = str(appt.get("status"))
    if status == "booked":
        raise Conflict(f"Appointment/{appt_id} is already booked")
    check_transition(status, "booked", f"Appointment/{appt_id}")
    expires = hold_expiry(appt)
    if expires is not None and expires <= session.now:
        raise Conflict(f"The hold of Appointment/{appt_id} expired at {instant(expires)}; find and hold again")
    slots: dict[str, Json] = {}
    for sid in slot_ids(appt):
        slot = await current(session, "Slot", sid)
        if slot is None:
            raise Conflict(f"Slot/{sid} of Appointment/{appt_id} no longer exists")
        slots[sid] = slot
    if not slots:
        raise BadRequest(f"Appointment/{appt_id} names no Slot of this server")
    if not participants(appt, "Patient"):
        raise BadRequest(f"Appointment/{appt_id} has no Patient participant")
    return appt, slots


@operation("book", type=True, instance=True, resource_types=("Appointment",), affects_state=True,
           definition=DEFINITION, resource_body=True)
async def book(ctx: OperationContext) -> OperationResult:
    server = ctx.server
    holds.ensure_sweeper(server)
    patient_type = ctx.params.str("patient-type", "new") or "new"
    if patient_type not in ("new", "existing"):
        raise BadRequest("patient-type is new or existing")
    remote_id: str | None = None
    try:
        async with write_tx(server) as session:
            if ctx.res_id is not None:
                appt, slots = await _stored(session, ctx.res_id)
                appt_id = ctx.res_id
            else:
                appt, ids, slots = await requested(ctx, session)
                check_transition(str(appt.get("status") or "proposed"), "booked", "The appointment")
                await holds.release_expired(server, session, ids)
                appt_id = new_id()
            if any(zocdoc.timeslot_key(slot) for slot in slots.values()):
                await invariants.take(session, appt_id, list(slots))  # lock and check before asking ZocDoc
            appt, remote_id = await remote.book(server, session, {**appt, "status": "booked"}, slots, patient_type)
            body = answer(without_hold(appt), "accepted")
            if ctx.res_id is not None:
                outcome = await update.update(server, session, "Appointment", appt_id, {**body, "id": appt_id})
            else:
                outcome = await create.create(server, session, "Appointment", body, assigned_id=appt_id)
    except BaseException:
        if remote_id is not None:
            await remote.compensate(server, remote_id)
        raise
    status = 201 if ctx.res_id is None else 200
    headers = {"Location": f"{ctx.base}/{outcome.location}"} if outcome.location else {}
    return OperationResult(status=status, resource=outcome.resource, headers=headers)
