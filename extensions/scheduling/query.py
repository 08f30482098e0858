"""Free slots for $find (http://hl7.org/fhir/R4/slot.html, schedule.html, location.html#positional): who,
where, what and when, ordered by start and then by distance.

A Schedule's practitioners and locations come from its actors (Practitioner, Location, and
PractitionerRole with its practitioner and locations); its distance from the ``near`` point is the
great-circle distance (haversine, the same sphere as the ``near`` search) to its closest
positioned location. Schedules are matched in Python; the slots of the matching schedules are
found in SQL on the search index tables (Slot schedule, start, status, service-type, specialty), so
the start-ordered page is cut in PostgreSQL, and no query looks into the stored JSON (which may be
sealed: storage/crypto.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from extensions.scheduling.opdefs import matches
from extensions.scheduling.workflow import Json, local_id
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.storage.repository import Conn

EARTH_KM = 6371.0088  # mean Earth radius, as in fhir_server/search/types/special.py
Token = tuple[str | None, str]


@dataclass(slots=True)
class FindRequest:
    start: datetime
    end: datetime
    service_types: list[Token] = field(default_factory=list)
    specialties: list[Token] = field(default_factory=list)
    practitioners: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    near: tuple[float, float, float] | None = None  # latitude, longitude, radius in km
    count: int = 20


@dataclass(slots=True)
class ScheduleFacts:
    id: str
    content: Json
    practitioners: list[str] = field(default_factory=list)
    locations: dict[str, Json] = field(default_factory=dict)  # id → Location
    specialties: list[Json] = field(default_factory=list)  # CodeableConcepts (schedule + roles)
    km: float | None = None  # to the near point

    @property
    def service_types(self) -> list[Json]:
        return list(self.content.get("serviceType") or [])


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def position(location: Json) -> tuple[float, float] | None:
    pos = location.get("position")
    if isinstance(pos, dict):
        lat, lon = pos.get("latitude"), pos.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return float(lat), float(lon)
    return None


async def _contents(conn: Conn, res_type: str, ids: list[str] | None) -> dict[str, Json]:
    if ids is not None and not ids:
        return {}
    sql = f"SELECT r.id, {content_sql('r')} FROM resource r WHERE r.res_type = %s AND NOT r.deleted"
    args: list[Any] = [res_type]
    if ids is not None:
        sql += " AND r.id = ANY(%s)"
        args.append(ids)
    cur = await conn.execute(sql, args)
    return {r[0]: orjson.loads(content_bytes(r[1])) for r in await cur.fetchall()}


async def schedules(conn: Conn, req: FindRequest) -> list[ScheduleFacts]:
    """The active Schedules that match who, where and (schedule-level) specialty, with their distance."""
    found = await _contents(conn, "Schedule", None)
    actors = {sid: [a for a in s.get("actor") or [] if isinstance(a, dict)] for sid, s in found.items()}
    role_ids = sorted({rid for acts in actors.values() for a in acts for rid in [local_id(a, "PractitionerRole")]
                       if rid})
    roles = await _contents(conn, "PractitionerRole", role_ids)
    loc_ids = {lid for acts in actors.values() for a in acts for lid in [local_id(a, "Location")] if lid}
    loc_ids |= {lid for r in roles.values() for ref in r.get("location") or [] for lid in [local_id(ref, "Location")]
                if lid}
    locations = await _contents(conn, "Location", sorted(loc_ids))
    out = []
    for sid, sched in found.items():
        if sched.get("active") is False:
            continue
        facts = ScheduleFacts(sid, sched, specialties=list(sched.get("specialty") or []))
        for a in actors[sid]:
            if (pid := local_id(a, "Practitioner")) is not None:
                facts.practitioners.append(pid)
            if (lid := local_id(a, "Location")) is not None and lid in locations:
                facts.locations[lid] = locations[lid]
            role = roles.get(local_id(a, "PractitionerRole") or "")
            if role is not None and role.get("active") is not False:
                if (pid := local_id(role.get("practitioner"), "Practitioner")) is not None:
                    facts.practitioners.append(pid)
                for ref in role.get("location") or []:
                    if (lid := local_id(ref, "Location")) is not None and lid in locations:
                        facts.locations[lid] = locations[lid]
                facts.specialties.extend(role.get("specialty") or [])
        if _keep(facts, req):
            out.append(facts)
    return out


def _keep(facts: ScheduleFacts, req: FindRequest) -> bool:
    if req.practitioners and not set(req.practitioners) & set(facts.practitioners):
        return False
    if req.locations and not set(req.locations) & set(facts.locations):
        return False
    if req.near is not None:
        lat, lon, km = req.near
        distances = [haversine_km(lat, lon, *p) for loc in facts.locations.values() if (p := position(loc))]
        if not distances or min(distances) > km:
            return False
        facts.km = min(distances)
    return True


async def pids(conn: Conn) -> dict[tuple[str, str], int]:
    """Search parameter ids (``search_param.pid``) of the Slot index rows used here."""
    cur = await conn.execute(
        "SELECT res_type, code, pid FROM search_param WHERE res_type = 'Slot' "
        "AND code IN ('schedule', 'start', 'status', 'service-type', 'specialty')")
    return {(r[0], r[1]): r[2] for r in await cur.fetchall()}


def _token_sql(alias: str, wanted: list[Token], args: list[Any]) -> str:
    parts = []
    for system, code in wanted:
        if system is None:
            parts.append(f"{alias}.code = %s")
            args.append(code)
        elif system == "":
            parts.append(f"({alias}.code = %s AND {alias}.system IS NULL)")
            args.append(code)
        else:
            parts.append(f"({alias}.code = %s AND {alias}.system = %s)")
            args += [code, system]
    return "(" + " OR ".join(parts) + ")"


def _slot_filter(pid: int, wanted: list[Token], per_schedule: str, args: list[Any]) -> str:
    """The slot's own ``name`` codes match; or it has none and its schedule's do (``per_schedule``)."""
    rows = "(SELECT t.pid, t.system, t.code FROM idx_token t WHERE t.rid = s.rid OFFSET 0)"  # by rid, always
    args.append(pid)
    own = f"EXISTS (SELECT 1 FROM {rows} x WHERE x.pid = %s AND {_token_sql('x', wanted, args)})"
    args.append(pid)
    none = f"NOT EXISTS (SELECT 1 FROM {rows} y WHERE y.pid = %s)"
    return f"({own} OR ({none} AND m.{per_schedule}))"


async def free_slots(conn: Conn, facts: list[ScheduleFacts], req: FindRequest) -> list[tuple[Json, str, float | None]]:
    """Free slots of these schedules starting in [start, end): (Slot, schedule id, km), by start then km."""
    if not facts or req.count <= 0:
        return []
    p = await pids(conn)
    args: list[Any] = [[f.id for f in facts], [f.km for f in facts],
                       [matches(f.service_types, req.service_types) for f in facts],
                       [matches(f.specialties, req.specialties) for f in facts],
                       p[("Slot", "schedule")], p[("Slot", "start")], req.start, req.end, p[("Slot", "status")]]
    where = ""
    if req.service_types:
        where += " AND " + _slot_filter(p[("Slot", "service-type")], req.service_types, "st", args)
    if req.specialties:
        where += " AND " + _slot_filter(p[("Slot", "specialty")], req.specialties, "sp", args)
    args.append(req.count)
    # Per schedule its slots (idx_reference by target), per slot its start (idx_date by rid): LATERALs
    # fenced by OFFSET 0, so the plan does not depend on table statistics; the status from idx_token.
    sql = (
        f"SELECT {content_sql('s')}, m.sched, m.km FROM unnest(%s::text[], %s::float8[], %s::bool[], %s::bool[]) "
        "AS m(sched, km, st, sp) "
        "CROSS JOIN LATERAL (SELECT r.rid FROM idx_reference r "
        "WHERE r.pid = %s AND r.target_type = 'Schedule' AND r.target_id = m.sched OFFSET 0) x "
        "CROSS JOIN LATERAL (SELECT d.pid, d.lo FROM idx_date d WHERE d.rid = x.rid OFFSET 0) d "
        "JOIN resource s ON s.rid = x.rid AND s.res_type = 'Slot' AND NOT s.deleted "
        "WHERE d.pid = %s AND d.lo >= %s AND d.lo < %s "
        f"AND EXISTS (SELECT 1 FROM idx_token f WHERE f.rid = s.rid AND f.pid = %s AND f.code = 'free'){where} "
        "ORDER BY d.lo, m.km NULLS LAST, s.id LIMIT %s"
    )
    cur = await conn.execute(sql, args)
    return [(orjson.loads(content_bytes(r[0])), r[1], r[2]) for r in await cur.fetchall()]
