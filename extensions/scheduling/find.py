"""Appointment/$find (Argonaut Scheduling IG "appointment-find"; http://hl7.org/fhir/R4/slot.html): free slots
as proposed Appointments.

Who (practitioner), where (location, ``near`` a point within a radius), what (service-type,
specialty) and when (start/end). Local slots and ZocDoc slots (of the ZocDoc schedules imported
here, refreshed from ZocDoc for the window) come in one searchset Bundle ordered by start, then
by distance; each match is a proposed Appointment naming its Slot, with the distance in
``search.extension`` (location-distance) when ``near`` was given, and the Slots and Locations
follow as included entries. Expired holds are released first, so their slots are offered again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from extensions.scheduling import holds, integrations, zocdoc_slots
from extensions.scheduling.opdefs import definition, references, tokens
from extensions.scheduling.query import FindRequest, ScheduleFacts, free_slots, haversine_km, position, schedules
from extensions.scheduling.workflow import Json, write_tx
from fhir_server import access
from fhir_server.errors import BadRequest
from fhir_server.fhir.json import now
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.operations.params import Params
from mappers.http import ExternalError

DISTANCE = "http://hl7.org/fhir/StructureDefinition/location-distance"
UNITS_KM = {"km": 1.0, "m": 0.001, "mi": 1.609344, "[mi_i]": 1.609344}
MAX_DAYS = 180
MAX_COUNT = 100

DEFINITION = definition(
    "find", "Find Appointments",
    "Free slots (local and ZocDoc) as proposed Appointments, ordered by start then distance.",
    type_level=True, instance=False, affects_state=False, parameters=[
        ("start", "in", 0, "1", "dateTime", "Earliest slot start (default: now)"),
        ("end", "in", 0, "1", "dateTime", "Slots start before this (default: start + 7 days; at most 180 days)"),
        ("service-type", "in", 0, "*", "token", "Slot or Schedule serviceType (system|code); ZocDoc visit reasons"),
        ("specialty", "in", 0, "*", "token", "Slot, Schedule or PractitionerRole specialty (system|code)"),
        ("practitioner", "in", 0, "*", "reference", "Practitioner (directly or through a PractitionerRole)"),
        ("location", "in", 0, "*", "reference", "Location of the schedule"),
        ("near", "in", 0, "1", "special", "latitude|longitude|distance|units (km, m, mi; default 10 km)"),
        ("patient", "in", 0, "1", "reference", "The patient, added as a participant of the proposals"),
        ("patient-type", "in", 0, "1", "code", "new | existing (ZocDoc availability; default new)"),
        ("_count", "in", 0, "1", "integer", f"How many proposals at most (default 20, at most {MAX_COUNT})"),
        ("return", "out", 1, "1", "Bundle", "searchset of proposed Appointments, with their Slots and Locations"),
    ])


def parse_near(value: str) -> tuple[float, float, float]:
    parts = value.split("|")
    if not 2 <= len(parts) <= 4:
        raise BadRequest(f"near must be latitude|longitude[|distance[|units]], not '{value}'")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else 10.0
    except ValueError as exc:
        raise BadRequest(f"near: '{value}' has a part that is not a number") from exc
    unit = parts[3] if len(parts) > 3 and parts[3] else "km"
    if unit not in UNITS_KM:
        raise BadRequest(f"near: unknown unit '{unit}' (km, m or mi)")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= distance < 1e6):
        raise BadRequest(f"near: '{value}' is out of range")
    return lat, lon, distance * UNITS_KM[unit]


def find_request(params: Params) -> FindRequest:
    start_range = params.date("start")
    start = start_range[0] if start_range else now()
    end_range = params.date("end")
    end = end_range[0] if end_range else start + timedelta(days=7)
    if end <= start:
        raise BadRequest("end must be after start")
    if end - start > timedelta(days=MAX_DAYS):
        raise BadRequest(f"The window from start to end may span at most {MAX_DAYS} days")
    count = params.int("_count", 20) or 0
    if not 0 <= count <= MAX_COUNT:
        raise BadRequest(f"_count must be between 0 and {MAX_COUNT}")
    near = params.str("near")
    return FindRequest(
        start=start, end=end, service_types=tokens(params, "service-type"), specialties=tokens(params, "specialty"),
        practitioners=references(params, "practitioner", "Practitioner"),
        locations=references(params, "location", "Location"),
        near=parse_near(near) if near else None, count=count)


def _closest(facts: ScheduleFacts, req: FindRequest) -> str | None:
    if not facts.locations:
        return None
    if req.near is None:
        return sorted(facts.locations)[0]
    lat, lon, _ = req.near
    positioned = [(haversine_km(lat, lon, *p), lid) for lid, loc in facts.locations.items() if (p := position(loc))]
    return min(positioned)[1] if positioned else sorted(facts.locations)[0]


def proposal(slot: Json, facts: ScheduleFacts, req: FindRequest, patient: str | None) -> Json:
    people = [{"actor": {"reference": f"Practitioner/{p}"}, "required": "required", "status": "needs-action"}
              for p in dict.fromkeys(facts.practitioners)]
    loc = _closest(facts, req)
    if loc is not None:
        name = facts.locations[loc].get("name")
        people.append({"actor": {"reference": f"Location/{loc}", **({"display": name} if name else {})},
                       "required": "required", "status": "needs-action"})
    if patient:
        people.append({"actor": {"reference": f"Patient/{patient}"}, "required": "required",
                       "status": "needs-action"})
    appt: Json = {"resourceType": "Appointment", "status": "proposed", "start": slot["start"], "end": slot["end"],
                  "slot": [{"reference": f"Slot/{slot['id']}"}], "participant": people}
    service = slot.get("serviceType") or facts.service_types
    if service:
        appt["serviceType"] = service
    specialty = slot.get("specialty") or facts.specialties
    if specialty:
        appt["specialty"] = specialty
    return appt


@operation("find", type=True, resource_types=("Appointment",), definition=DEFINITION)
async def find(ctx: OperationContext) -> OperationResult:
    server = ctx.server
    access.require("search-type", "Slot")  # what $find shows are the Slots
    req = find_request(ctx.params)
    patients = references(ctx.params, "patient", "Patient")
    patient_type = ctx.params.str("patient-type", "new") or "new"
    if patient_type not in ("new", "existing"):
        raise BadRequest("patient-type is new or existing")
    holds.ensure_sweeper(server)
    async with write_tx(server) as session:
        await holds.release_expired(server, session)
    async with server.pool.connection() as conn:
        facts = await schedules(conn, req)
    warnings: list[str] = []
    client = integrations.zocdoc(server.settings)
    if client is not None and facts:
        try:
            report = await zocdoc_slots.refresh(server, client, facts, req, patient_type)
            warnings += [f"ZocDoc {record}: {why}" for record, why in report.failed]
        except ExternalError as exc:
            warnings.append(f"ZocDoc availability is not included: {exc.message}")
    async with server.pool.connection() as conn:
        rows = await free_slots(conn, facts, req)
    by_id = {f.id: f for f in facts}
    entries: list[Json] = []
    included: dict[str, Json] = {}
    for slot, sched, km in rows:
        f = by_id[sched]
        appt = proposal(slot, f, req, patients[0] if patients else None)
        search: Json = {"mode": "match"}
        if km is not None:
            search["extension"] = [{"url": DISTANCE, "valueDistance": {
                "value": round(km, 3), "unit": "km", "system": "http://unitsofmeasure.org", "code": "km"}}]
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": appt, "search": search})
        included.setdefault(f"Slot/{slot['id']}", slot)
        for lid, loc in f.locations.items():
            included.setdefault(f"Location/{lid}", loc)
    entries += [{"fullUrl": f"{ctx.base}/{key}", "resource": res, "search": {"mode": "include"}}
                for key, res in included.items()]
    if warnings:
        entries.append({"resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "transient", "diagnostics": w} for w in warnings]},
            "search": {"mode": "outcome"}})
    bundle: Json = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    return OperationResult(resource=bundle)
