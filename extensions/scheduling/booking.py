"""What $hold and $book take (Argonaut Scheduling "appt-resource"; http://hl7.org/fhir/R4/appointment.html):
a proposed Appointment (as $find returns it), or slots and a patient; and the Appointment they become.
"""

from __future__ import annotations

from typing import Any

from extensions.scheduling.opdefs import references
from extensions.scheduling.workflow import Json, current, local_id, participants, slot_ids
from fhir_server.errors import BadRequest, NotFound
from fhir_server.operations import OperationContext
from fhir_server.storage.writes import WriteSession

IN_PARAMS = [
    ("appointment", "in", 0, "1", "Appointment", "A proposed Appointment (e.g. from $find) naming its Slot(s) "
                                                 "and the Patient (alias: appt-resource)"),
    ("slot", "in", 0, "*", "reference", "Slot(s) to take, when no appointment is given"),
    ("patient", "in", 0, "1", "reference", "The patient, when no appointment is given"),
    ("comment", "in", 0, "1", "string", "Appointment.comment"),
]


def given_appointment(ctx: OperationContext) -> Json | None:
    for name in ("appointment", "appt-resource"):
        value = ctx.params.get(name)
        if value is not None:
            if not isinstance(value, dict) or value.get("resourceType") != "Appointment":
                raise BadRequest(f"Parameter '{name}' must be an Appointment resource")
            return dict(value)
    if isinstance(ctx.body, dict) and ctx.body.get("resourceType") == "Appointment":
        return dict(ctx.body)  # the Appointment posted as the body itself
    return None


async def requested(ctx: OperationContext, session: WriteSession) -> tuple[Json, list[str], dict[str, Json]]:
    """(the Appointment to write, its slot ids, slot id → Slot) from the parameters; slots must exist here."""
    appt = given_appointment(ctx)
    if appt is None:
        slots = references(ctx.params, "slot", "Slot")
        patients = references(ctx.params, "patient", "Patient")
        if not slots or len(patients) != 1:
            raise BadRequest("Give an 'appointment' (a proposed Appointment) or 'slot'(s) and one 'patient'")
        appt = {"resourceType": "Appointment", "status": "proposed",
                "slot": [{"reference": f"Slot/{s}"} for s in slots],
                "participant": [{"actor": {"reference": f"Patient/{patients[0]}"}, "status": "accepted"}]}
    ids = slot_ids(appt)
    if not ids:
        raise BadRequest("The appointment names no Slot of this server (Appointment.slot)")
    if len(ids) != len(appt.get("slot") or []):
        raise BadRequest("Every Appointment.slot must be a Slot of this server (Slot/[id])")
    found: dict[str, Json] = {}
    for sid in ids:
        slot = await current(session, "Slot", sid)
        if slot is None:
            raise NotFound(f"Slot/{sid} is not known")
        found[sid] = slot
    if not participants(appt, "Patient"):
        raise BadRequest("The appointment needs a Patient participant")
    for pid in participants(appt, "Patient"):
        if await current(session, "Patient", pid) is None:
            raise NotFound(f"Patient/{pid} is not known")
    comment = ctx.params.str("comment")
    if comment:
        appt["comment"] = comment
    return await _complete(session, appt, found), ids, found


async def _complete(session: WriteSession, appt: Json, slots: dict[str, Json]) -> Json:
    """Fill start/end, service type and the schedule's practitioners and location from the slots."""
    out = {k: v for k, v in appt.items() if k not in ("id", "meta")}
    starts = sorted(str(s["start"]) for s in slots.values())
    ends = sorted(str(s["end"]) for s in slots.values())
    out.setdefault("start", starts[0])
    out.setdefault("end", ends[-1])
    first = next(iter(slots.values()))
    sched_id = local_id(first.get("schedule"), "Schedule")
    schedule = (await current(session, "Schedule", sched_id) if sched_id else None) or {}
    service = first.get("serviceType") or schedule.get("serviceType")
    if "serviceType" not in out and service:
        out["serviceType"] = service
    people: list[Any] = list(out.get("participant") or [])
    named = {p.get("actor", {}).get("reference") for p in people if isinstance(p, dict)}
    for actor in await _schedule_actors(session, schedule):
        if actor not in named:
            people.append({"actor": {"reference": actor}, "required": "required", "status": "accepted"})
            named.add(actor)
    out["participant"] = people
    return out


async def _schedule_actors(session: WriteSession, schedule: Json) -> list[str]:
    out = []
    for actor in schedule.get("actor") or []:
        for kind in ("Practitioner", "Location"):
            aid = local_id(actor, kind)
            if aid:
                out.append(f"{kind}/{aid}")
        rid = local_id(actor, "PractitionerRole")
        role = await current(session, "PractitionerRole", rid) if rid else None
        if role:
            pid = local_id(role.get("practitioner"), "Practitioner")
            out += [f"Practitioner/{pid}"] if pid else []
            out += [f"Location/{lid}" for ref in role.get("location") or [] if (lid := local_id(ref, "Location"))]
    return list(dict.fromkeys(out))


def answer(appt: Json, others: str) -> Json:
    """The patient accepts (it asked); the other participants get ``others`` (tentative on a hold, accepted
    on a booking: the schedule's owner published the slot)."""
    people = []
    for p in appt.get("participant") or []:
        if isinstance(p, dict):
            p = {**p, "status": "accepted" if local_id(p.get("actor"), "Patient") else others}
        people.append(p)
    return {**appt, "participant": people}
