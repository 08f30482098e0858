"""Booking and cancelling ZocDoc slots (../shared/apis/zocdoc.md "Booking") from $book and $cancel.

Called inside the booking transaction, after the local Slot is locked and found available: ZocDoc
is asked while no other booking of the slot can proceed here. If the local transaction then fails,
the ZocDoc appointment is cancelled again (``compensate``).
"""

from __future__ import annotations

import logging

from extensions.scheduling import integrations
from extensions.scheduling.workflow import Json, UpstreamFailed, current, local_id, participants
from fhir_server.errors import BadRequest, Conflict, ServiceUnavailable, Unprocessable
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession
from mappers import zocdoc
from mappers.common import MappingError
from mappers.http import ExternalError
from mappers.zocdoc_booking import booking_request, remote_appointment
from mappers.zocdoc_client import ZocDocClient, ZocDocError

log = logging.getLogger(__name__)


def _client(server: Server) -> ZocDocClient:
    client = integrations.zocdoc(server.settings)
    if client is None:
        raise ServiceUnavailable("This slot comes from ZocDoc, and ZocDoc is not configured on this server")
    return client


def _fail(exc: ExternalError, what: str) -> Exception:
    if isinstance(exc, ZocDocError) and exc.status in (400, 404, 409, 422):
        return Conflict(f"ZocDoc refused to {what}: {exc.message}")
    return UpstreamFailed(f"ZocDoc could not {what}: {exc.message}")


def _codes(concepts: object) -> list[str]:
    out = []
    for cc in concepts if isinstance(concepts, list) else []:
        for c in cc.get("coding") or [] if isinstance(cc, dict) else []:
            if c.get("system") == zocdoc.VISIT_REASON and isinstance(c.get("code"), str):
                out.append(c["code"])
    return out


async def _visit_reason(session: WriteSession, appt: Json, slot: Json) -> str:
    reasons = _codes(appt.get("serviceType")) or _codes(slot.get("serviceType"))
    if not reasons:
        sched_id = local_id(slot.get("schedule"), "Schedule")
        schedule = await current(session, "Schedule", sched_id) if sched_id else None
        reasons = _codes((schedule or {}).get("serviceType"))
    if not reasons:
        raise BadRequest("Booking on ZocDoc needs a visit reason (serviceType in system " + zocdoc.VISIT_REASON + ")")
    return reasons[0]


async def book(server: Server, session: WriteSession, appt: Json, slots: dict[str, Json],
               patient_type: str) -> tuple[Json, str | None]:
    """Book the ZocDoc slot of this appointment (if it has one): the appointment with ZocDoc's id and status."""
    keys = {sid: key for sid, slot in slots.items() if (key := zocdoc.timeslot_key(slot))}
    if not keys:
        return appt, None
    if len(slots) != 1:
        raise BadRequest("A ZocDoc slot is booked alone: one Slot per Appointment")
    sid, (plid, start) = next(iter(keys.items()))
    patient_id = participants(appt, "Patient")[0]
    patient = await current(session, "Patient", patient_id)
    try:
        request = booking_request(plid, start, await _visit_reason(session, appt, slots[sid]), patient or {},
                                  patient_type, appt.get("comment"))
    except MappingError as exc:
        raise Unprocessable(exc.message) from exc
    try:
        remote = remote_appointment(await _client(server).book(request))
    except ExternalError as exc:
        raise _fail(exc, "book the slot") from exc
    except MappingError as exc:
        raise UpstreamFailed(f"ZocDoc answered the booking with {exc.message}") from exc
    await session.lock_key(f"zocdoc-appointment:{remote.appointment_id}")  # its webhook waits for this commit
    if remote.status == "cancelled":
        raise Conflict(f"ZocDoc did not book the slot (status {remote.zocdoc_status})")
    ident = {"system": zocdoc.APPOINTMENT, "value": remote.appointment_id}
    booked = {**appt, "status": remote.status, "identifier": [*(appt.get("identifier") or []), ident]}
    return booked, remote.appointment_id


async def compensate(server: Server, appointment_id: str) -> None:
    """Undo a ZocDoc booking the local transaction could not record (best effort, logged)."""
    try:
        await _client(server).cancel(appointment_id, "other_provider_reason", "booking could not be recorded")
    except Exception:
        log.exception("ZocDoc appointment %s was booked but not recorded, and cancelling it failed", appointment_id)


async def cancel(server: Server, appt: Json, reason: str | None) -> None:
    """Cancel on ZocDoc first when the appointment was booked there."""
    remote_id = zocdoc.zocdoc_value(appt, zocdoc.APPOINTMENT)
    if remote_id is None:
        return
    try:
        await _client(server).cancel(remote_id, "other_patient_reason", reason)
    except ExternalError as exc:
        raise _fail(exc, "cancel the appointment") from exc
