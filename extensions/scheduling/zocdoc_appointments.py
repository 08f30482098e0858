"""ZocDoc appointment state → local Appointment (../shared/apis/zocdoc.md "Booking", "Webhooks";
http://hl7.org/fhir/R4/appointment.html).

ZocDoc is the source of truth for appointments booked there: its status (confirmed → booked,
cancelled → cancelled, …) and start time are copied onto the local Appointment that carries its
appointment id; the invariants guard moves the slots along (cancelled → free). An appointment
ZocDoc created that is not known here yet (provider-side scheduling) is created.
"""

from __future__ import annotations

from extensions.scheduling.workflow import Json, current, ids_by_identifier
from fhir_server.interactions import update
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession
from mappers import zocdoc
from mappers.common import identifier, stable_id
from mappers.zocdoc_booking import RemoteAppointment, end_after


def _slot_for(remote: RemoteAppointment) -> str | None:
    if remote.provider_location_id and remote.start:
        return zocdoc.slot_id(remote.provider_location_id, remote.start)
    return None


async def _participants(session: WriteSession, remote: RemoteAppointment, patient: str | None) -> list[Json]:
    people: list[Json] = []
    if patient and await current(session, "Patient", patient) is not None:
        people.append({"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"})
    if remote.provider_location_id:
        provider, location = zocdoc.split_provider_location(remote.provider_location_id)
        for kind, rid, ident in (("Practitioner", zocdoc.practitioner_id(provider), (zocdoc.PROVIDER, provider)),
                                 ("Location", zocdoc.location_id(location), (zocdoc.LOCATION, location))):
            if await current(session, kind, rid) is not None:
                people.append({"actor": {"reference": f"{kind}/{rid}"}, "status": "accepted"})
            else:
                people.append({"actor": {"identifier": identifier(*ident), "display": f"ZocDoc {kind.lower()}"},
                               "status": "accepted"})
    return people


async def apply(server: Server, session: WriteSession, remote: RemoteAppointment,
                patient: str | None = None) -> str:
    """Bring the local Appointment in line with ZocDoc: ``updated``, ``unchanged`` or ``created``."""
    await session.lock_key(f"zocdoc-appointment:{remote.appointment_id}")  # after a $book that booked it
    found = await ids_by_identifier(session.conn, "Appointment", zocdoc.APPOINTMENT, remote.appointment_id)
    appt_id = found[0] if found else stable_id("zocdoc-appt", remote.appointment_id)
    await session.lock([("Appointment", appt_id)])
    stored = await current(session, "Appointment", appt_id)
    minutes = server.settings.zocdoc_slot_minutes
    if stored is None:
        if remote.start is None:
            return "unchanged"  # nothing to place on a calendar
        slot = _slot_for(remote)
        new: Json = {"resourceType": "Appointment", "id": appt_id, "status": remote.status,
                     "identifier": [identifier(zocdoc.APPOINTMENT, remote.appointment_id)],
                     "start": remote.start, "end": end_after(remote.start, minutes),
                     "participant": await _participants(session, remote, patient)}
        if slot and await current(session, "Slot", slot) is not None and remote.status != "cancelled":
            new["slot"] = [{"reference": f"Slot/{slot}"}]
        if remote.status == "cancelled":
            new["cancelationReason"] = {"text": remote.cancellation_reason or "cancelled on ZocDoc"}
        await update.update(server, session, "Appointment", appt_id, new)
        return "created"
    wanted = dict(stored)
    wanted["status"] = remote.status
    if remote.start and remote.start != stored.get("start"):  # rescheduled on ZocDoc
        wanted["start"], wanted["end"] = remote.start, end_after(remote.start, minutes)
        slot = _slot_for(remote)
        keep = slot and await current(session, "Slot", slot) is not None
        wanted["slot"] = [{"reference": f"Slot/{slot}"}] if keep else []
        if not wanted["slot"]:
            wanted.pop("slot")
    if remote.status in ("cancelled", "noshow"):
        wanted.setdefault("cancelationReason", {"text": remote.cancellation_reason or f"{remote.status} on ZocDoc"})
    if {k: v for k, v in wanted.items() if k != "meta"} == {k: v for k, v in stored.items() if k != "meta"}:
        return "unchanged"
    await update.update(server, session, "Appointment", appt_id, wanted)
    return "updated"

