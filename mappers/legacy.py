"""The seed platform's own tables → Patient, Condition, Appointment (http://hl7.org/fhir/R4/patient.html,
condition.html, appointment.html).

Source rows: ``patients(id, name, date_of_birth, medical_history JSONB)`` and
``appointments(id, patient_id, provider_id, appointment_time, status)``. One patient row (with the
Conditions of its medical history) or one appointment row is one record: it maps whole or raises a
``MappingError`` naming the row.

``medical_history`` may be null, a list, or an object with a ``conditions`` list; an entry is a
string (the condition's name) or an object with ``condition``/``name``/``diagnosis``, optional
``icd10``/``code``, ``onset``/``diagnosed``/``since`` (a date) and ``status``
(active/resolved/inactive/remission) or ``resolved`` (boolean).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mappers.common import Json, MappingError, identifier, prune, pruned, ref, stable_id, text

PATIENT = "urn:legacy-platform:patient-id"
APPOINTMENT = "urn:legacy-platform:appointment-id"
PROVIDER = "urn:legacy-platform:provider-id"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
DEFAULT_MINUTES = 30
STATUS = {"scheduled": "booked", "booked": "booked", "confirmed": "booked", "pending": "pending",
          "requested": "proposed", "proposed": "proposed", "arrived": "arrived", "checked_in": "checked-in",
          "checked-in": "checked-in", "completed": "fulfilled", "fulfilled": "fulfilled", "done": "fulfilled",
          "cancelled": "cancelled", "canceled": "cancelled", "no_show": "noshow", "no-show": "noshow",
          "noshow": "noshow"}
_CLINICAL = {"active": "active", "resolved": "resolved", "inactive": "inactive", "remission": "remission",
             "recurrence": "recurrence", "relapse": "relapse", "chronic": "active", "ongoing": "active"}
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")


def patient_id(legacy_id: Any) -> str:
    return stable_id("legacy-pat", str(legacy_id))


def _key(value: Any, what: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()) or isinstance(value, bool):
        raise MappingError(what, "the id is missing")
    return str(value).strip()


def human_name(record: str, raw: Any) -> Json:
    name = text(raw)
    if name is None:
        raise MappingError(record, "name is empty")
    if "," in name:
        family, _, given = (p.strip() for p in name.partition(","))
        givens = given.split()
    else:
        parts = name.split()
        family, givens = parts[-1], parts[:-1]
    return pruned({"use": "official", "text": name, "family": family, "given": givens})


def _birth_date(record: str, raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return raw.isoformat()
    value = text(raw)
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise MappingError(record, f"date_of_birth {value!r} is not a date (YYYY-MM-DD)") from exc


def _entries(record: str, history: Any) -> list[Any]:
    if history is None:
        return []
    if isinstance(history, dict):
        history = history.get("conditions")
        if history is None:
            return []
    if not isinstance(history, list):
        raise MappingError(record, "medical_history is not a list (or an object with a 'conditions' list)")
    return history


def _first(entry: Json, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if entry.get(k) not in (None, ""):
            return entry[k]
    return None


def condition(record: str, pid: str, index: int, entry: Any) -> Json:
    where = f"{record} medical_history[{index}]"
    if isinstance(entry, str):
        entry = {"condition": entry}
    if not isinstance(entry, dict):
        raise MappingError(where, "an entry is a string or an object")
    name = text(_first(entry, ("condition", "name", "diagnosis", "description")))
    code = text(_first(entry, ("icd10", "icd_10", "code")))
    if name is None and code is None:
        raise MappingError(where, "the entry names no condition (condition/name/diagnosis or icd10/code)")
    onset = _first(entry, ("onset", "diagnosed", "since", "date"))
    if onset is not None and not (isinstance(onset, str) and _DATE.fullmatch(onset.strip())):
        raise MappingError(where, f"onset {onset!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
    status = entry.get("status")
    if isinstance(entry.get("resolved"), bool):
        status = "resolved" if entry["resolved"] else "active"
    clinical = _CLINICAL.get(str(status or "active").strip().lower())
    if clinical is None:
        raise MappingError(where, f"status {status!r} is not a condition status (active, resolved, ...)")
    concept: Json = {"text": name or code}
    if code:
        concept["coding"] = [{"system": ICD10, "code": code, **({"display": name} if name else {})}]
    return pruned({
        "resourceType": "Condition",
        "id": stable_id("legacy-cond", pid, (code or name or "").lower()),
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "problem-list-item"}]}],
        "code": concept,
        "subject": ref("Patient", patient_id(pid)),
        "onsetDateTime": onset.strip() if isinstance(onset, str) else None,
    })


def patient_record(row: dict[str, Any]) -> list[Json]:
    """A ``patients`` row → [Patient, Condition, ...]."""
    pid = _key(row.get("id"), "patients row")
    record = f"patients.id={pid}"
    patient = prune({
        "resourceType": "Patient",
        "id": patient_id(pid),
        "identifier": [identifier(PATIENT, pid)],
        "name": [human_name(record, row.get("name"))],
        "birthDate": _birth_date(record, row.get("date_of_birth")),
    })
    conditions = [condition(record, pid, i, e) for i, e in enumerate(_entries(record, row.get("medical_history")))]
    seen: set[str] = set()
    for c in conditions:
        if c["id"] in seen:
            raise MappingError(record, f"medical_history lists '{c['code']['text']}' twice")
        seen.add(c["id"])
    return [patient, *conditions]


def _when(record: str, raw: Any) -> datetime:
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw.strip())
        except ValueError as exc:
            raise MappingError(record, f"appointment_time {raw!r} is not a date-time") from exc
    if not isinstance(raw, datetime):
        raise MappingError(record, "appointment_time is missing")
    return raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)  # naive times are taken as UTC


def appointment_record(row: dict[str, Any], minutes: int = DEFAULT_MINUTES) -> Json:
    """An ``appointments`` row → Appointment (the patient must be imported as ``patient_id(row['patient_id'])``)."""
    aid = _key(row.get("id"), "appointments row")
    record = f"appointments.id={aid}"
    raw_status = str(row.get("status") or "").strip().lower()
    if raw_status not in STATUS:
        raise MappingError(record, f"status {row.get('status')!r} is not one of {', '.join(sorted(STATUS))}")
    if row.get("patient_id") is None:
        raise MappingError(record, "patient_id is missing")
    start = _when(record, row.get("appointment_time"))
    participants: list[Json] = [{"actor": ref("Patient", patient_id(row["patient_id"])), "status": "accepted"}]
    if row.get("provider_id") is not None:
        provider = str(row["provider_id"])
        participants.append({"actor": {"identifier": identifier(PROVIDER, provider),
                                       "display": f"Provider {provider}"}, "status": "accepted"})
    iso = "%Y-%m-%dT%H:%M:%S%z"
    return {
        "resourceType": "Appointment",
        "id": stable_id("legacy-appt", aid),
        "identifier": [identifier(APPOINTMENT, aid)],
        "status": STATUS[raw_status],
        "start": _instant(start.strftime(iso)),
        "end": _instant((start + timedelta(minutes=minutes)).strftime(iso)),
        "minutesDuration": minutes,
        "participant": participants,
    }


def _instant(value: str) -> str:
    """``2024-05-01T10:00:00+0000`` → ``2024-05-01T10:00:00+00:00``."""
    return value[:-2] + ":" + value[-2:]
