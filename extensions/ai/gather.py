"""Patient compartment (http://hl7.org/fhir/R4/compartmentdefinition-patient.html): what a summary draws on.

Everything is read through the search engine inside ``Patient/[id]``'s compartment, with the
caller's row restriction added to every query (``access.AccessPolicy``); types the caller may not
read are left out and reported. Dated events honour the optional ``start``/``end`` window; the
patient's state (active problems, allergies, current medications) is kept whatever the window,
since a summary of any period needs it. An ``Encounter`` summary keeps the events of that
encounter, plus the allergies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from extensions.ai.access import AccessPolicy
from fhir_server.fhir.dates import date_range
from fhir_server.search.engine import Options, Scope
from fhir_server.storage.repository import Conn

Json = dict[str, Any]
PAGE = 500
ACTIVE_PROBLEM = {"active", "recurrence", "relapse"}
INACTIVE_ALLERGY = {"inactive", "resolved"}
NOT_REAL = {"entered-in-error", "refuted"}
CURRENT_MED = {"active", "on-hold"}
KINDS = ("problems", "observations", "medications", "allergies", "immunizations", "encounters",
         "procedures", "appointments")


@dataclass(frozen=True, slots=True)
class Query:
    kind: str
    res_type: str
    sort: str
    date_param: str | None  # the window applies in the query (events) ...
    cap: int  # most resources read


QUERIES = (
    Query("problems", "Condition", "-recorded-date", None, 500),
    Query("observations", "Observation", "-date", "date", 5000),
    Query("medications", "MedicationRequest", "-authoredon", None, 500),
    Query("medications", "MedicationStatement", "-effective", None, 500),
    Query("allergies", "AllergyIntolerance", "-date", None, 200),
    Query("immunizations", "Immunization", "-date", "date", 200),
    Query("encounters", "Encounter", "-date", "date", 200),
    Query("procedures", "Procedure", "-date", "date", 200),
    Query("appointments", "Appointment", "date", "date", 200),
)


@dataclass(slots=True)
class Window:
    start: str | None = None
    end: str | None = None

    def contains(self, value: Any) -> bool:
        """A date/dateTime lies (partly) inside the window; undated values do not."""
        if not isinstance(value, str) or not value:
            return False
        try:
            lo, hi = date_range(value)
        except ValueError:
            return False
        if self.start and hi <= date_range(self.start)[0]:
            return False
        return not (self.end and lo >= date_range(self.end)[1])

    @property
    def set(self) -> bool:
        return bool(self.start or self.end)


@dataclass(slots=True)
class Record:
    """The resources a summary is built from, by kind, each list newest first."""

    patient: Json
    encounter: Json | None = None
    items: dict[str, list[Json]] = field(default_factory=lambda: {k: [] for k in KINDS})
    withheld: set[str] = field(default_factory=set)  # kinds with a type the caller may not read
    notes: list[str] = field(default_factory=list)


def as_json(resource: Any) -> Json:
    if isinstance(resource, dict):
        return resource
    out: Json = orjson.loads(orjson.dumps(resource))  # an orjson.Fragment of the stored JSON
    return out


class Gatherer:
    def __init__(self, server: Any, conn: Conn, access: AccessPolicy, base: str) -> None:
        self.server = server
        self.conn = conn
        self.access = access
        self.base = base

    async def one(self, res_type: str, res_id: str, compartment: tuple[str, str] | None) -> Json | None:
        """``res_type/res_id`` if the caller may see it (None otherwise)."""
        if not self.access.can_read(res_type):
            return None
        found, _ = await self.search(res_type, [("_id", res_id)], compartment, 1)
        return found[0] if found else None

    async def search(self, res_type: str, params: list[tuple[str, str]], compartment: tuple[str, str] | None,
                     cap: int) -> tuple[list[Json], bool]:
        """Up to ``cap`` matches, following the engine's cursor pages; True when there were more."""
        path = f"{compartment[0]}/{compartment[1]}/{res_type}" if compartment else res_type
        scope = Scope([res_type], path, compartment=compartment, extra=list(self.access.read_conditions(res_type)))
        opts = Options(self.base, default_count=PAGE, max_count=PAGE, strict=True)
        query = [*params, ("_count", str(min(cap, PAGE)))]
        out: list[Json] = []
        while True:
            bundle = await self.server.engine.search(self.conn, scope, query, opts)
            out += [as_json(e["resource"]) for e in bundle.get("entry", [])
                    if e.get("search", {}).get("mode") == "match"]
            nxt = next((lk["url"] for lk in bundle.get("link", []) if lk.get("relation") == "next"), None)
            if nxt is None:
                return out[:cap], False
            if len(out) >= cap:
                return out[:cap], True
            query = parse_qsl(urlsplit(nxt).query)


async def gather(g: Gatherer, patient: Json, window: Window, today: str, encounter: Json | None = None) -> Record:
    """The patient's record as the caller may see it (appointments from ``today`` on, unless a window starts)."""
    pid = str(patient["id"])
    record = Record(patient, encounter)
    for q in QUERIES:
        if encounter is not None and q.kind == "appointments":
            continue
        if not g.access.can_read(q.res_type):
            record.withheld.add(q.kind)
            record.notes.append(f"{q.res_type} resources were left out: the caller may not read them")
            continue
        params = [("_sort", q.sort)]
        if encounter is not None and q.kind != "allergies":
            if g.server.registry.get(q.res_type, "encounter") is None:
                continue
            params.append(("encounter", f"Encounter/{encounter['id']}"))
        elif q.date_param and window.start:
            params.append((q.date_param, f"ge{window.start}"))
        elif q.kind == "appointments":
            params.append(("date", f"ge{today}"))
        if encounter is None and q.date_param and window.end:
            params.append((q.date_param, f"le{window.end}"))
        found, more = await g.search(q.res_type, params, ("Patient", pid), q.cap)
        if more:
            record.notes.append(f"Only the {q.cap} most recent {q.res_type} resources were considered")
        record.items[q.kind] += _select(q.kind, found, window if encounter is None else Window())
    record.items["observations"] = latest_per_code(record.items["observations"])
    if encounter is not None:
        record.items["encounters"] = [encounter]
    return record


def _status(resource: Json, element: str) -> str | None:
    coding = (resource.get(element) or {}).get("coding") or [{}]
    code = coding[0].get("code")
    return code if isinstance(code, str) else None


def _select(kind: str, found: list[Json], window: Window) -> list[Json]:
    """Keep what describes the patient's state, plus (when a window is set) what happened inside it."""
    if kind == "problems":
        found = [c for c in found if _status(c, "verificationStatus") not in NOT_REAL]
        return [c for c in found if _status(c, "clinicalStatus") in ACTIVE_PROBLEM or
                (window.set and window.contains(c.get("recordedDate") or c.get("onsetDateTime")))]
    if kind == "allergies":
        return [a for a in found if _status(a, "verificationStatus") not in NOT_REAL
                and _status(a, "clinicalStatus") not in INACTIVE_ALLERGY]
    if kind == "medications":
        return [m for m in found if m.get("status") in CURRENT_MED or
                (window.set and window.contains(m.get("authoredOn") or m.get("effectiveDateTime")))]
    return found


def code_key(concept: Any) -> str:
    """A CodeableConcept's identity: its first coding (system|code), else its text."""
    if not isinstance(concept, dict):
        return ""
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return f"{coding.get('system', '')}|{coding['code']}"
    return str(concept.get("text") or "")


def latest_per_code(observations: list[Json]) -> list[Json]:
    """The first (newest, as searched with ``_sort=-date``) Observation of each code."""
    seen: set[str] = set()
    out = []
    for obs in observations:
        if obs.get("status") in ("entered-in-error", "cancelled"):
            continue
        key = code_key(obs.get("code"))
        if key and key not in seen:
            seen.add(key)
            out.append(obs)
    return out
