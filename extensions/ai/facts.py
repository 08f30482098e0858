"""CodeableConcept, Quantity (http://hl7.org/fhir/R4/datatypes.html): one short clinical fact per resource.

A fact carries only coded clinical content (what, value, status, date); never names, notes,
narrative or references. Each fact has an alias (``R1``, ``R2`` …) that stands for its resource in
the prompt, so no resource id leaves the server and every citation can be checked against the
aliases that were sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from extensions.ai.deidentify import DateShift
from extensions.ai.gather import Record

Json = dict[str, Any]
LIMITS = {"problems": 60, "vitals": 30, "results": 60, "medications": 40, "allergies": 40, "immunizations": 20,
          "encounters": 10, "procedures": 20, "appointments": 10}


@dataclass(frozen=True, slots=True)
class Fact:
    alias: str
    kind: str  # problems | vitals | results | medications | allergies | immunizations | encounters | …
    res_type: str
    id: str
    version: str
    text: str  # the clinical content, dates already shifted
    date: str | None  # YYYY-MM-DD (shifted), when the resource has one

    @property
    def reference(self) -> str:
        return f"{self.res_type}/{self.id}"

    def line(self) -> str:
        return f"{self.alias} | {self.res_type} | {self.text}"


def concept(cc: Any) -> str | None:
    """The words of a CodeableConcept: its text, else the first display, else the first code."""
    if not isinstance(cc, dict):
        return None
    if isinstance(cc.get("text"), str) and cc["text"].strip():
        return str(cc["text"]).strip()
    codings = [c for c in cc.get("coding") or [] if isinstance(c, dict)]
    for key in ("display", "code"):
        for c in codings:
            if isinstance(c.get(key), str):
                return str(c[key])
    return None


def number(value: Any) -> str:
    """A measured value as a person reads it: 162.10675 → 162.1, 7.0 → 7, 0.8712 → 0.87."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".")


def quantity(q: Any) -> str | None:
    if not isinstance(q, dict) or "value" not in q:
        return None
    unit = q.get("unit") or q.get("code") or ""
    comparator = q.get("comparator", "")
    return f"{comparator}{number(q['value'])} {unit}".strip()


def value(element: Json) -> str | None:
    """An Observation's (or component's) value[x] in words."""
    for key, render in (("valueQuantity", quantity), ("valueCodeableConcept", concept)):
        if key in element:
            return render(element[key])
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime", "valueTime"):
        if key in element:
            v = element[key]
            return ("yes" if v else "no") if isinstance(v, bool) else str(v)
    return None


def first_date(resource: Json, *keys: str) -> Any:
    for key in keys:
        v = resource.get(key)
        if isinstance(v, dict):
            v = v.get("start")
        if isinstance(v, str):
            return v
    return None


def status(cc: Any) -> str | None:
    """The code of a status CodeableConcept (e.g. Condition.clinicalStatus)."""
    codings = cc.get("coding") if isinstance(cc, dict) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    code = first.get("code") if isinstance(first, dict) else None
    return code if isinstance(code, str) else None


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def _on(label: str, shifted: str | None) -> str | None:
    return f"{label} {shifted}" if shifted else None


def observation(o: Json, when: str | None) -> str:
    components = [f"{concept(c.get('code')) or 'component'} {value(c)}" for c in o.get("component") or []
                  if isinstance(c, dict) and value(c) is not None]
    shown = value(o) or ", ".join(components) or (concept(o.get("dataAbsentReason")) and "no value")
    return _join(concept(o.get("code")) or "observation", shown, _on("on", when))


def condition(c: Json, when: str | None, shift: DateShift) -> str:
    abated = shift.apply(first_date(c, "abatementDateTime", "abatementPeriod"))
    return _join(concept(c.get("code")) or "condition", status(c.get("clinicalStatus")) or "status unknown",
                 _on("onset", when), _on("resolved", abated))


UNIT_WORDS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}


def how_often(rep: Json) -> str:
    """Timing.repeat frequency/period/periodUnit in words: "once per day", "3 times every 2 weeks"."""
    n = rep.get("frequency", 1)
    times = {1: "once", 2: "twice"}.get(n, f"{n} times") if isinstance(n, int) else f"{n} times"
    unit = UNIT_WORDS.get(str(rep.get("periodUnit")), str(rep.get("periodUnit")))
    period = rep.get("period", 1)
    return f"{times} per {unit}" if period == 1 else f"{times} every {number(period)} {unit}s"


def dosage(m: Json) -> str | None:
    texts = []
    for d in m.get("dosageInstruction") or m.get("dosage") or []:
        if not isinstance(d, dict):
            continue
        if isinstance(d.get("text"), str):
            texts.append(d["text"])
            continue
        rep = ((d.get("timing") or {}).get("repeat") or {})
        if rep.get("frequency") and rep.get("periodUnit"):
            texts.append(how_often(rep))
        if d.get("asNeededBoolean") or d.get("asNeededCodeableConcept"):
            texts.append("as needed")
    return ", ".join(texts) or None


def medication(m: Json, when: str | None) -> str:
    ref = m.get("medicationReference") or {}
    name = concept(m.get("medicationCodeableConcept")) or (ref.get("display") if isinstance(ref, dict) else None)
    return _join(name or "medication", m.get("status"), dosage(m), _on("since", when))


def allergy(a: Json, when: str | None) -> str:
    reactions = [concept(mf) for r in a.get("reaction") or [] if isinstance(r, dict)
                 for mf in r.get("manifestation") or []]
    return _join(concept(a.get("code")) or "allergy", ", ".join(a.get("category") or []) or None,
                 a.get("criticality") and f"criticality {a['criticality']}",
                 ", ".join(r for r in reactions if r) and "reaction: " + ", ".join(r for r in reactions if r),
                 _on("recorded", when))


def describe(resource: Json, shift: DateShift) -> tuple[str, str | None]:
    """The fact text of one resource and its (shifted) date."""
    t = resource.get("resourceType")
    if t == "Observation":
        when = shift.apply(first_date(resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"))
        return observation(resource, when), when
    if t == "Condition":
        when = shift.apply(first_date(resource, "onsetDateTime", "onsetPeriod", "recordedDate"))
        return condition(resource, when, shift), when
    if t in ("MedicationRequest", "MedicationStatement"):
        when = shift.apply(first_date(resource, "authoredOn", "effectiveDateTime", "effectivePeriod"))
        return medication(resource, when), when
    if t == "AllergyIntolerance":
        when = shift.apply(first_date(resource, "recordedDate", "onsetDateTime"))
        return allergy(resource, when), when
    if t == "Immunization":
        when = shift.apply(first_date(resource, "occurrenceDateTime"))
        return _join(concept(resource.get("vaccineCode")) or "vaccine", resource.get("status"), _on("on", when)), when
    if t == "Procedure":
        when = shift.apply(first_date(resource, "performedDateTime", "performedPeriod"))
        return _join(concept(resource.get("code")) or "procedure", resource.get("status"), _on("on", when)), when
    if t == "Encounter":
        when = shift.apply(first_date(resource, "period"))
        kind = next((concept(c) for c in resource.get("type") or [] if concept(c)), None)
        reasons = ", ".join(r for r in (concept(c) for c in resource.get("reasonCode") or []) if r)
        cls = (resource.get("class") or {}).get("code")
        return _join(kind or "encounter", cls and f"class {cls}", reasons and f"reason: {reasons}",
                     _on("on", when)), when
    if t == "Appointment":
        when = shift.apply(resource.get("start"))
        kind = concept(resource.get("appointmentType")) or next(
            (concept(c) for c in resource.get("serviceType") or [] if concept(c)), None)
        return _join(kind or "appointment", resource.get("status"), _on("on", when)), when
    return str(t), None


def kind_of(kind: str, resource: Json) -> str:
    if kind != "observations":
        return kind
    categories = [c.get("code") for cc in resource.get("category") or [] if isinstance(cc, dict)
                  for c in cc.get("coding") or [] if isinstance(c, dict)]
    return "vitals" if "vital-signs" in categories else "results"


def facts(record: Record, shift: DateShift, limits: dict[str, int] | None = LIMITS) -> list[Fact]:
    """Aliased facts of the record, newest first within each kind, at most ``limits[kind]`` each."""
    out: list[Fact] = []
    counts: dict[str, int] = {}
    for kind, resources in record.items.items():
        for resource in resources:
            k = kind_of(kind, resource)
            counts[k] = counts.get(k, 0) + 1
            if limits is not None and counts[k] > limits.get(k, 20):
                continue
            text, when = describe(resource, shift)
            version = str((resource.get("meta") or {}).get("versionId", ""))
            out.append(Fact(f"R{len(out) + 1}", k, str(resource["resourceType"]), str(resource["id"]),
                            version, text, when))
    return out
