"""ZocDoc availability → local Slots (../shared/apis/zocdoc.md "Availability"; http://hl7.org/fhir/R4/slot.html).

For the ZocDoc Schedules a search selected (imported by ``fhir-server sync zocdoc``), asks ZocDoc
for the free timeslots of the window and stores them as Slots, so that ZocDoc slots are held and
booked like local ones. A Slot already taken here keeps its status; a free ZocDoc Slot that
ZocDoc no longer offers becomes busy-unavailable.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from extensions.scheduling.opdefs import matches
from extensions.scheduling.query import FindRequest, ScheduleFacts, free_slots
from extensions.scheduling.upsert import Record, Report, import_batch
from extensions.scheduling.workflow import Json
from fhir_server.state import Server
from mappers import zocdoc
from mappers.zocdoc_client import ZocDocClient

try:
    EASTERN: tzinfo = ZoneInfo("America/New_York")  # ZocDoc's "today" for availability windows
except ZoneInfoNotFoundError:  # no time zone database on this system: US Eastern standard time
    EASTERN = timezone(timedelta(hours=-5))
MAX_DAYS_AHEAD = 150


def _codes(concepts: list[Json] | None, system: str) -> list[str]:
    return [c["code"] for cc in concepts or [] if isinstance(cc, dict) for c in cc.get("coding") or []
            if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str)]


def merge_slot(stored: Json, mapped: Json) -> Json | None:
    """Keep a Slot that is taken here; otherwise ZocDoc's view, with the visit reasons of both."""
    if stored.get("status") not in ("free", "busy-unavailable"):
        return None
    reasons = _codes(stored.get("serviceType"), zocdoc.VISIT_REASON)
    for code in _codes(mapped.get("serviceType"), zocdoc.VISIT_REASON):
        if code not in reasons:
            reasons.append(code)
    merged = {k: v for k, v in stored.items() if k != "meta"}
    merged.update(mapped)
    merged["serviceType"] = [{"coding": [{"system": zocdoc.VISIT_REASON, "code": r}]} for r in reasons]
    return merged


def _reasons(facts: ScheduleFacts, req: FindRequest) -> list[str]:
    asked = [(s, c) for s, c in req.service_types if s in (None, zocdoc.VISIT_REASON)]
    if asked:
        return [c for s, c in asked if matches(facts.service_types, [(s, c)])]
    offered = _codes(facts.service_types, zocdoc.VISIT_REASON)
    return offered[:1]  # the provider's default visit reason


def window(start: datetime, end: datetime, today: date | None = None) -> tuple[date, date] | None:
    """Provider-local dates to ask for (a day of margin each side), within what ZocDoc serves."""
    today = today or datetime.now(EASTERN).date()
    first = max((start - timedelta(days=1)).date(), today)
    last = min((end + timedelta(days=1)).date(), today + timedelta(days=MAX_DAYS_AHEAD))
    return (first, last) if first <= last else None


async def refresh(server: Server, client: ZocDocClient, facts: list[ScheduleFacts], req: FindRequest,
                  patient_type: str = "new") -> Report:
    """Fetch and store the ZocDoc slots of these schedules for the request's window."""
    report = Report()
    span = window(req.start, req.end)
    by_reason: dict[str, list[str]] = {}
    reasons_of: dict[str, set[str]] = {}
    zd_facts = []
    for f in facts:
        plid = zocdoc.zocdoc_value(f.content, zocdoc.PROVIDER_LOCATION)
        if plid is None:
            continue
        zd_facts.append(f)
        for reason in _reasons(f, req):
            by_reason.setdefault(reason, []).append(plid)
            reasons_of.setdefault(f.id, set()).add(reason)
    if span is None or not by_reason:
        return report
    fetched: set[str] = set()
    minutes = server.settings.zocdoc_slot_minutes
    for reason, plids in sorted(by_reason.items()):
        entries = await client.availability(plids, reason, span[0], span[1], patient_type)
        slots, errors = zocdoc.availability(entries, minutes)
        report.failed += [(e.record, e.message) for e in errors]
        fetched |= {s["id"] for s in slots}
        report.merge_from(await import_batch(server, [
            Record(f"ZocDoc timeslot {s['identifier'][0]['value']}", [s], merge_slot) for s in slots]))
    report.merge_from(await _vanished(server, zd_facts, req, fetched, reasons_of))
    return report


async def _vanished(server: Server, facts: list[ScheduleFacts], req: FindRequest, fetched: set[str],
                    reasons_of: dict[str, set[str]]) -> Report:
    """Free ZocDoc slots in the window that ZocDoc did not offer again (for the reasons asked) → busy-unavailable."""
    async with server.pool.connection() as conn:
        rows = await free_slots(conn, facts, FindRequest(req.start, req.end, count=10_000))
    gone = []
    for slot, sched, _ in rows:
        codes = set(_codes(slot.get("serviceType"), zocdoc.VISIT_REASON))
        if slot["id"] not in fetched and zocdoc.zocdoc_value(slot, zocdoc.TIMESLOT) and codes <= reasons_of.get(
                sched, set()):
            gone.append({**{k: v for k, v in slot.items() if k != "meta"}, "status": "busy-unavailable"})
    return await import_batch(server, [Record(f"Slot/{s['id']}", [s], _still_free) for s in gone])


def _still_free(stored: Json, mapped: Json) -> Json | None:
    return mapped if stored.get("status") == "free" else None
