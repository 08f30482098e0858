"""``fhir-server import places`` and ``fhir-server import legacy``: Google Places (../shared/apis/google-maps.md)
and the seed platform's tables → FHIR, one record per transaction, with a report.

Places: a Nearby Search (Places API New by default, or the legacy web service with its pages) or
a Text Search; each place → Organization + Location. Legacy: ``patients`` rows → Patient (+
Conditions), then ``appointments`` rows → Appointment, read from another PostgreSQL database; an
appointment whose patient did not import is reported, not half-written.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from extensions.scheduling.upsert import Record, Report, import_records
from fhir_server.state import Server
from mappers import legacy, maps
from mappers.common import MappingError
from mappers.maps_client import MapsClient


def place_records(places: list[maps.Place]) -> tuple[list[Record], list[tuple[str, str]]]:
    records, failed = [], []
    for place in places:
        try:
            records.append(Record(f"place {place.place_id}", maps.resources(place)))
        except MappingError as exc:
            failed.append((f"place {place.place_id}", exc.message))
    return records, failed


async def import_places(server: Server, client: MapsClient, lat: float, lng: float, radius: float,
                        place_type: str | None = None, api: str = "new", query: str | None = None) -> Report:
    """Import the places around a point (or matching a text query)."""
    if query:
        payloads, api = await client.search_text(query, included_type=place_type), "new"
    elif api == "legacy":
        payloads = await client.nearby_legacy(lat, lng, radius, place_type)
    else:
        payloads = [await client.search_nearby(lat, lng, radius, [place_type] if place_type else None)]
    found: list[maps.Place] = []
    failed: list[tuple[str, str]] = []
    for payload in payloads:
        places, errors = maps.places(payload, api)
        found += places
        failed += [(e.record, e.message) for e in errors]
    records, unmapped = place_records(found)
    report = await import_records(server, records)
    report.failed += failed + unmapped
    return report


async def _rows(source_url: str, sql: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(source_url, row_factory=dict_row) as conn:
        cur = await conn.execute(sql)
        return list(await cur.fetchall())


async def import_legacy(server: Server, source_url: str) -> tuple[Report, Report]:
    """(patients report, appointments report) for the legacy database at ``source_url``."""
    patients = await _rows(source_url, "SELECT id, name, date_of_birth, medical_history FROM patients ORDER BY id")
    records: list[Record] = []
    unmapped: list[tuple[str, str]] = []
    for row in patients:
        try:
            records.append(Record(f"patients.id={row.get('id')}", legacy.patient_record(row)))
        except MappingError as exc:
            unmapped.append((exc.record, exc.message))
    people = await import_records(server, records)
    people.failed += unmapped
    imported = {ref.split("/", 1)[1] for ref in people.written if ref.startswith("Patient/")}
    appointments = await _rows(source_url, "SELECT id, patient_id, provider_id, appointment_time, status "
                                           "FROM appointments ORDER BY id")
    records, unmapped = [], []
    for row in appointments:
        try:
            appt = legacy.appointment_record(row)
            if legacy.patient_id(row["patient_id"]) not in imported:
                raise MappingError(f"appointments.id={row.get('id')}",
                                   f"its patient (patients.id={row['patient_id']}) was not imported")
            records.append(Record(f"appointments.id={row.get('id')}", [appt]))
        except MappingError as exc:
            unmapped.append((exc.record, exc.message))
    visits = await import_records(server, records)
    visits.failed += unmapped
    return people, visits
