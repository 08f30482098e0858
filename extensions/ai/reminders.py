"""Timing (http://hl7.org/fhir/R4/datatypes.html#Timing) → medication reminder Communications.

``due_reminders`` turns a patient's active MedicationRequests into one Communication (category
reminder) per dose due in a window; ``write_due`` stores them, each under a deterministic
identifier with a conditional create, so running the same window twice stores nothing new. What
runs it: see docs/ARCHITECTURE.md (a periodic tick, and the outbox when a MedicationRequest changes).

Times: ``Timing.repeat.timeOfDay`` and ``when`` are used as given; otherwise n doses a day fall at
the usual times (1: 09:00; 2: 09:00, 21:00; 3: 08:00, 14:00, 20:00; 4: 08:00, 12:00, 16:00, 20:00;
more: evenly from 00:00), in the patient's time zone (UTC unless told). As-needed doses, monthly
and yearly schedules and doses less than 15 minutes apart get no reminders.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from extensions.ai.access import OPEN
from extensions.ai.facts import concept, number
from extensions.ai.gather import Gatherer
from fhir_server.fhir.dates import date_range
from fhir_server.fhir.json import now
from fhir_server.interactions.create import create
from fhir_server.storage.writes import WriteSession

Json = dict[str, Any]
SYSTEM = "urn:fhir-server:medication-reminder"
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
UNITS = {"s": timedelta(seconds=1), "min": timedelta(minutes=1), "h": timedelta(hours=1)}
USUAL = {1: ["09:00"], 2: ["09:00", "21:00"], 3: ["08:00", "14:00", "20:00"], 4: ["08:00", "12:00", "16:00", "20:00"]}
WHEN = {"WAKE": "07:00", "MORN": "08:00", "MORN.early": "07:00", "MORN.late": "10:00", "C": "08:00", "CM": "08:00",
        "ACM": "07:30", "PCM": "08:30", "NOON": "12:00", "CD": "12:30", "ACD": "12:00", "PCD": "13:00",
        "AFT": "15:00", "AFT.early": "14:00", "AFT.late": "16:00", "EVE": "18:00", "EVE.early": "17:00",
        "EVE.late": "19:00", "CV": "18:30", "ACV": "18:00", "PCV": "19:00", "NIGHT": "21:00", "HS": "22:00"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_INTERVAL = timedelta(minutes=15)


def _clock(values: list[str]) -> list[time]:
    return sorted({time(int(v[:2]), int(v[3:5])) for v in values if len(v) >= 5 and v[:2].isdigit()})


def _times(rep: Json, per_day: int) -> list[time]:
    if rep.get("timeOfDay"):
        return _clock([str(v) for v in rep["timeOfDay"]])
    if rep.get("when"):
        return _clock([WHEN[w] for w in rep["when"] if w in WHEN])
    if per_day in USUAL:
        return _clock(USUAL[per_day])
    step = 24 * 60 // max(per_day, 1)
    return [time(m // 60, m % 60) for m in range(0, 24 * 60, step)][:per_day]


def _days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def dose_times(rep: Json, anchor: datetime, start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """The doses of one ``Timing.repeat`` in [start, end), none before ``anchor``."""
    unit, freq = rep.get("periodUnit"), int(rep.get("frequency") or 1)
    period = float(rep.get("period") or 1)
    first, last = (start.astimezone(tz) - timedelta(days=1)).date(), end.astimezone(tz).date()
    out: list[datetime] = []
    if unit in UNITS and not (rep.get("timeOfDay") or rep.get("when")):
        step = UNITS[unit] * period / freq
        if step < MIN_INTERVAL:
            return []
        for day in _days(first, last):
            t, midnight = datetime.combine(day, time(0), tz), datetime.combine(day + timedelta(days=1), time(0), tz)
            while t < midnight:
                out.append(t)
                t += step
    elif unit in ("d", "wk") or rep.get("timeOfDay") or rep.get("when"):
        weekly = unit == "wk"
        every = max(int(period), 1)
        allowed = {DAYS.index(d) for d in rep.get("dayOfWeek") or [] if d in DAYS}
        if weekly and not allowed:
            allowed = {(anchor.astimezone(tz).weekday() + i * 7 // freq) % 7 for i in range(min(freq, 7))}
        times = _times(rep, 1 if weekly else freq)
        anchor_day = anchor.astimezone(tz).date()
        for day in _days(first, last):
            gap = (day - anchor_day).days // 7 if weekly else (day - anchor_day).days
            if gap % every or (allowed and day.weekday() not in allowed):
                continue
            out += [datetime.combine(day, t, tz) for t in times]
    return [t for t in out if start <= t < end and t >= anchor]


def _bounds(rep: Json, fallback: datetime) -> tuple[datetime, datetime | None]:
    period = rep.get("boundsPeriod") or {}
    try:
        lo = date_range(period["start"])[0] if period.get("start") else fallback
        hi = date_range(period["end"])[1] if period.get("end") else None
    except ValueError:
        return fallback, None
    return lo, hi


def _dose(d: Json) -> str | None:
    for dr in d.get("doseAndRate") or []:
        q = dr.get("doseQuantity") if isinstance(dr, dict) else None
        if isinstance(q, dict) and "value" in q:
            return f"{number(q['value'])} {q.get('unit') or ''}".strip()
    return None


def due_reminders(requests: list[Json], start: datetime, end: datetime, tz: tzinfo = UTC) -> list[Json]:
    """One reminder Communication per dose due in [start, end), for the active MedicationRequests given."""
    out: list[Json] = []
    for mr in requests:
        if mr.get("resourceType") != "MedicationRequest" or mr.get("status") != "active":
            continue
        authored = date_range(mr["authoredOn"])[0] if isinstance(mr.get("authoredOn"), str) else start
        for d in mr.get("dosageInstruction") or []:
            rep = ((d.get("timing") or {}).get("repeat") or {}) if isinstance(d, dict) else {}
            if not rep or d.get("asNeededBoolean") or d.get("asNeededCodeableConcept"):
                continue
            anchor, until = _bounds(rep, authored)
            for t in dose_times(rep, anchor, start, until if until and until < end else end, tz):
                out.append(reminder(mr, d, t))
    return sorted(out, key=lambda c: (c["sent"], c["identifier"][0]["value"]))


def reminder(mr: Json, d: Json, at: datetime) -> Json:
    ref = mr.get("medicationReference")
    name = concept(mr.get("medicationCodeableConcept")) or (ref.get("display") if isinstance(ref, dict) else None)
    dose = _dose(d)
    text = f"Reminder: time to take {name or 'your medication'}" + (f", dose {dose}" if dose else "")
    text += f" ({at.strftime('%H:%M')})." + (f" {d['text']}" if isinstance(d.get("text"), str) else "")
    when = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    subject = mr.get("subject") or {}
    return {
        "resourceType": "Communication",
        "identifier": [{"system": SYSTEM, "value": f"{mr['id']}/{d.get('sequence', 1)}/{when}"}],
        "basedOn": [{"reference": f"MedicationRequest/{mr['id']}"}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY, "code": "reminder"}]}],
        "priority": "routine",
        "subject": subject,
        "recipient": [subject],
        "sent": when,
        "payload": [{"contentString": text}],
    }


async def write_due(server: Any, patient_id: str, start: datetime, end: datetime, base: str,
                    tz: tzinfo = UTC) -> list[str]:
    """Store the reminders due in [start, end) for one patient; the ids of the ones created now."""
    async with server.pool.connection() as conn:
        requests, _ = await Gatherer(server, conn, OPEN, base).search(
            "MedicationRequest", [("status", "active")], ("Patient", patient_id), 1000)
    created: list[str] = []
    async with server.pool.connection() as conn, conn.transaction():
        session = WriteSession(conn, server.indexer, now())
        for comm in due_reminders(requests, start, end, tz):
            ident = comm["identifier"][0]
            condition = urlencode({"identifier": f"{ident['system']}|{ident['value']}"})
            outcome = await create(server, session, "Communication", comm, if_none_exist=condition)
            if outcome.status == 201 and outcome.resource is not None:
                created.append(str(outcome.resource["id"]))
        await session.flush()
    server.after_commit(session.touched)
    return created
