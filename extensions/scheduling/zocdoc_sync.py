"""``fhir-server sync zocdoc`` (../shared/apis/zocdoc.md "Directory", "Availability", "Booking"): import
ZocDoc providers, locations and availability, and reconcile the appointments booked there.

1. Directory: every provider location of a search (zip code + specialty or visit reason) →
   Practitioner, Organization, Location, PractitionerRole, Schedule; one transaction per provider
   location, so a bad one is reported and the others land.
2. Availability: their timeslots for the next days → Slots (``zocdoc_slots``).
3. Appointments: local Appointments booked on ZocDoc and not finished are compared with ZocDoc's
   state (this also repairs a webhook event that was never delivered).
Each part reports created / updated / unchanged / failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import orjson

from extensions.scheduling import zocdoc_appointments, zocdoc_slots
from extensions.scheduling.query import FindRequest, schedules
from extensions.scheduling.upsert import Record, Report, import_records
from extensions.scheduling.workflow import FINAL, Json, write_tx
from fhir_server.errors import FhirError
from fhir_server.fhir.json import now
from fhir_server.state import Server
from fhir_server.storage.crypto import content_bytes, content_sql
from mappers import zocdoc
from mappers.common import MappingError
from mappers.http import ExternalError
from mappers.zocdoc_booking import remote_appointment
from mappers.zocdoc_client import ZocDocClient


@dataclass(slots=True)
class SyncOptions:
    zip_code: str
    specialty_id: str | None = None
    visit_reason_id: str | None = None
    days: int = 14
    patient_type: str = "new"


@dataclass(slots=True)
class SyncReport:
    directory: Report = field(default_factory=Report)
    slots: Report = field(default_factory=Report)
    appointments: Report = field(default_factory=Report)

    def as_json(self) -> Json:
        return {"directory": self.directory.as_json(), "slots": self.slots.as_json(),
                "appointments": self.appointments.as_json()}

    @property
    def failed(self) -> int:
        return len(self.directory.failed) + len(self.slots.failed) + len(self.appointments.failed)


def directory_records(provider_locations: list[Json]) -> tuple[list[Record], list[tuple[str, str]]]:
    records, failed = [], []
    for pl in provider_locations:
        label = str(pl.get("provider_location_id") or "provider location without an id")
        try:
            records.append(Record(f"provider location {label}", zocdoc.provider_location(pl)))
        except MappingError as exc:
            failed.append((f"provider location {label}", exc.message))
    return records, failed


async def sync_appointments(server: Server, client: ZocDocClient) -> Report:
    report = Report()
    async with server.pool.connection() as conn:
        cur = await conn.execute(  # an identifier in ZocDoc's system (the identifier index: content may be sealed)
            f"SELECT r.id, {content_sql('r')} FROM resource r WHERE r.res_type = 'Appointment' AND NOT r.deleted "
            "AND r.rid IN (SELECT t.rid FROM search_param p JOIN idx_token t ON t.pid = p.pid AND t.kind = 0 "
            "WHERE p.res_type = 'Appointment' AND p.code = 'identifier' AND t.system = %s)", (zocdoc.APPOINTMENT,))
        rows = await cur.fetchall()
    for appt_id, content in rows:
        appt = orjson.loads(content_bytes(content))
        remote_id = zocdoc.zocdoc_value(appt, zocdoc.APPOINTMENT)
        if remote_id is None or appt.get("status") in FINAL:
            continue
        try:
            remote = remote_appointment(await client.appointment(remote_id))
            async with write_tx(server) as session:
                outcome = await zocdoc_appointments.apply(server, session, remote)
            report.add(outcome, f"Appointment/{appt_id}")
        except (ExternalError, MappingError, FhirError) as exc:
            report.failed.append((f"Appointment/{appt_id}", str(exc)))
    return report


async def sync(server: Server, client: ZocDocClient, opts: SyncOptions) -> SyncReport:
    out = SyncReport()
    found = await client.provider_locations(opts.zip_code, specialty_id=opts.specialty_id,
                                            visit_reason_id=opts.visit_reason_id)
    records, failed = directory_records(found)
    out.directory = await import_records(server, records)
    out.directory.failed += failed
    imported = {r.resources[-1]["id"] for r in records}  # the Schedule is each record's last resource
    start = now()
    req = FindRequest(start, start + timedelta(days=opts.days),
                      service_types=[(zocdoc.VISIT_REASON, opts.visit_reason_id)] if opts.visit_reason_id else [])
    async with server.pool.connection() as conn:
        facts = [f for f in await schedules(conn, req) if f.id in imported]
    try:
        out.slots = await zocdoc_slots.refresh(server, client, facts, req, opts.patient_type)
    except ExternalError as exc:
        out.slots.failed.append(("availability", exc.message))
    out.appointments = await sync_appointments(server, client)
    return out
