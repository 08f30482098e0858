"""Appointment/$hold (Argonaut Scheduling IG "appointment-hold"): keep slots for a patient for a while.

The result is a stored pending Appointment with a hold-expires extension; its slots become
busy-tentative and are claimed until then (invariants guard). A hold that is not booked in time is
cancelled and its slots are free again (``holds``). Holding a ZocDoc slot is local (ZocDoc has no
hold): ZocDoc is asked at $book time.
"""

from __future__ import annotations

from datetime import timedelta

from extensions.scheduling import holds
from extensions.scheduling.booking import IN_PARAMS, answer, requested
from extensions.scheduling.opdefs import definition
from extensions.scheduling.workflow import HOLD_EXPIRES, check_transition, write_tx
from fhir_server.errors import BadRequest
from fhir_server.fhir.json import instant
from fhir_server.interactions import create
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.storage.writes import new_id

MAX_HOLD = timedelta(hours=24)

DEFINITION = definition(
    "hold", "Hold Appointment",
    "Hold free slots for a patient: a pending Appointment whose slots are busy-tentative until it expires.",
    type_level=True, instance=False, affects_state=True, parameters=[
        *IN_PARAMS,
        ("expires", "in", 0, "1", "instant", "When the hold lapses (default: now + the server's hold time; "
                                             "at most 24 h)"),
        ("return", "out", 1, "1", "Appointment", "The pending Appointment holding the slots"),
    ])


@operation("hold", type=True, resource_types=("Appointment",), affects_state=True, definition=DEFINITION)
async def hold(ctx: OperationContext) -> OperationResult:
    server = ctx.server
    holds.ensure_sweeper(server)
    async with write_tx(server) as session:
        expires_range = ctx.params.date("expires")
        until = expires_range[0] if expires_range else session.now + timedelta(minutes=server.settings.hold_minutes)
        if until <= session.now:
            raise BadRequest("expires must be in the future")
        if until - session.now > MAX_HOLD:
            raise BadRequest("A hold may last at most 24 hours")
        appt, slots, _ = await requested(ctx, session)
        check_transition(str(appt.get("status") or "proposed"), "pending", "The appointment")
        await holds.release_expired(server, session, slots)
        appt_id = new_id()
        body = answer({**appt, "status": "pending"}, "tentative")
        extensions = [e for e in body.get("extension") or [] if e.get("url") != HOLD_EXPIRES]
        body["extension"] = [*extensions, {"url": HOLD_EXPIRES, "valueInstant": instant(until)}]
        outcome = await create.create(server, session, "Appointment", body, assigned_id=appt_id)
    headers = {"Location": f"{ctx.base}/{outcome.location}"} if outcome.location else {}
    return OperationResult(status=201, resource=outcome.resource, headers=headers)
