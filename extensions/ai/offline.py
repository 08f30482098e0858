"""International Patient Summary sections (https://hl7.org/fhir/uv/ips/): the deterministic, template-built summary.

Used without an API key or with ``mode=offline``, so ``$summarize`` always answers. It writes the
same Composition as the model path, from fixed templates: active problems, latest vital signs
with their dates, current medications, allergies and upcoming appointments; every statement cites
the one resource it restates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from extensions.ai.citations import Draft, Statement
from extensions.ai.deidentify import DateShift
from extensions.ai.facts import Fact, concept, dosage, first_date, kind_of, status, value
from extensions.ai.gather import ACTIVE_PROBLEM, CURRENT_MED, Record
from fhir_server.fhir.dates import date_range

Json = dict[str, Any]
ORDER = ["problems", "vitals", "medications", "allergies", "appointments"]
TEMPLATE = "summarize-offline/1"
NOT_UPCOMING = {"cancelled", "noshow", "fulfilled", "entered-in-error", "checked-in", "arrived"}


def _day(v: Any) -> str | None:
    return DateShift(0).apply(v)


def _problem(c: Json) -> str | None:
    if status(c.get("clinicalStatus")) not in ACTIVE_PROBLEM:
        return None
    since = _day(first_date(c, "onsetDateTime", "onsetPeriod", "recordedDate"))
    return f"{concept(c.get('code')) or 'Unnamed condition'}" + (f" (since {since})" if since else "")


def _vital(o: Json) -> str | None:
    if kind_of("observations", o) != "vitals":
        return None
    parts = [f"{concept(c.get('code')) or 'component'} {value(c)}" for c in o.get("component") or []
             if isinstance(c, dict) and value(c) is not None]
    shown = value(o) or ", ".join(parts) or "no value"
    when = _day(first_date(o, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"))
    return f"{concept(o.get('code')) or 'Vital sign'}: {shown}" + (f" on {when}" if when else "")


def _medication(m: Json) -> str | None:
    if m.get("status") not in CURRENT_MED:
        return None
    ref = m.get("medicationReference")
    name = concept(m.get("medicationCodeableConcept")) or (ref.get("display") if isinstance(ref, dict) else None)
    how = dosage(m)
    return f"{name or 'Unnamed medication'}" + (f" ({how})" if how else "")


def _allergy(a: Json) -> str | None:
    text = concept(a.get("code")) or "Unnamed allergy"
    if a.get("criticality"):
        text += f" (criticality {a['criticality']})"
    reactions = [r for r in (concept(mf) for x in a.get("reaction") or [] if isinstance(x, dict)
                             for mf in x.get("manifestation") or []) if r]
    return text + (f"; reaction: {', '.join(reactions)}" if reactions else "")


def _upcoming(now: datetime) -> Any:
    def render(a: Json) -> str | None:
        start = a.get("start")
        if a.get("status") in NOT_UPCOMING or not isinstance(start, str):
            return None
        try:
            if date_range(start)[0] < now:
                return None
        except ValueError:
            return None
        kind = concept(a.get("appointmentType")) or next(
            (concept(c) for c in a.get("serviceType") or [] if concept(c)), None) or a.get("description")
        return f"{kind or 'Appointment'} on {_day(start)} ({a.get('status')})"
    return render


def summarize(record: Record, facts: list[Fact], now: datetime) -> Draft:
    """The five template sections, each statement citing its one source."""
    by_ref = {f.reference: f for f in facts}
    templates = {"problems": ("problems", _problem), "vitals": ("observations", _vital),
                 "medications": ("medications", _medication), "allergies": ("allergies", _allergy),
                 "appointments": ("appointments", _upcoming(now))}
    draft = Draft()
    for key in ORDER:
        kind, render = templates[key]
        statements = []
        for resource in record.items.get(kind, []):
            text = render(resource)
            fact = by_ref.get(f"{resource['resourceType']}/{resource['id']}")
            if text is not None and fact is not None:
                statements.append(Statement(text, [fact]))
        draft.sections[key] = statements
    return draft


def used(draft: Draft) -> list[Fact]:
    """The facts the summary cites (its Provenance inputs)."""
    seen: dict[str, Fact] = {}
    for statements in draft.sections.values():
        for s in statements:
            for f in s.sources:
                seen.setdefault(f.reference, f)
    return list(seen.values())
