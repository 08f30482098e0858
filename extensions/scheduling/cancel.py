"""Appointment/[id]/$cancel (http://hl7.org/fhir/R4/appointment.html#statemachine: → cancelled): cancel an
appointment and free its slots.

Pending (held) and booked appointments, and those not yet started (proposed, waitlist, arrived),
can be cancelled; fulfilled, noshow, cancelled and entered-in-error ones cannot (409). An
appointment booked on ZocDoc is cancelled there first. The slots become free in the same
transaction (invariants guard), and the change reaches subscribers through the outbox.
"""

from __future__ import annotations

from extensions.scheduling import remote
from extensions.scheduling.opdefs import definition
from extensions.scheduling.workflow import TRANSITIONS, current, without_hold, write_tx
from fhir_server.errors import Conflict, NotFound
from fhir_server.interactions import update
from fhir_server.operations import OperationContext, OperationResult, operation

DEFINITION = definition(
    "cancel", "Cancel Appointment",
    "Cancel an appointment (also on ZocDoc when booked there); its slots become free.",
    type_level=False, instance=True, affects_state=True, parameters=[
        ("reason", "in", 0, "1", "string", "Why (Appointment.cancelationReason.text)"),
        ("return", "out", 1, "1", "Appointment", "The cancelled Appointment"),
    ])


@operation("cancel", instance=True, resource_types=("Appointment",), affects_state=True, definition=DEFINITION)
async def cancel(ctx: OperationContext) -> OperationResult:
    server = ctx.server
    appt_id = str(ctx.res_id)
    reason = ctx.params.str("reason")
    async with write_tx(server) as session:
        await session.lock([("Appointment", appt_id)])
        appt = await current(session, "Appointment", appt_id)
        if appt is None:
            raise NotFound(f"Appointment/{appt_id} is not known")
        status = str(appt.get("status"))
        if "cancelled" not in TRANSITIONS.get(status, set()):
            raise Conflict(f"Appointment/{appt_id} is {status}; it cannot be cancelled")
        await remote.cancel(server, appt, reason)
        cancelled = {**without_hold(appt), "status": "cancelled",
                     "cancelationReason": {"text": reason or "cancelled on request"}}
        outcome = await update.update(server, session, "Appointment", appt_id, cancelled)
    return OperationResult(resource=outcome.resource)
