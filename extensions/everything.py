"""``Patient/[id]/$everything`` and ``Encounter/[id]/$everything`` (http://hl7.org/fhir/R4/patient-operation-everything.html,
http://hl7.org/fhir/R4/encounter-operation-everything.html).

The focal resource, every resource in its compartment (R4 CompartmentDefinitions) and the
resources they refer to (practitioners, organizations, locations, medications…), as a searchset
Bundle paged by ``_count`` with stable cursors. ``start``/``end`` keep resources whose clinical
date (their ``date`` search parameter, when they have one) meets the period; ``_since`` keeps
those changed since an instant; ``_type`` limits the types (AuditEvents, the audit trail of the
record rather than part of it, come only when ``_type`` names them). What the caller may not see (patient
scopes, compartments) is left out, through the same access rules as search.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server import access
from fhir_server.errors import BadRequest
from fhir_server.fhir.bundle import new_bundle
from fhir_server.fhir.dates import date_range
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.search import compartments
from fhir_server.search.include import IncludeSpec, included
from fhir_server.search.sql import Cond, all_of, any_of
from fhir_server.storage.crypto import content_bytes
from fhir_server.storage.repository import _content_sql

Json = dict[str, Any]
DEFAULT_COUNT = 100
MAX_COUNT = 1000
_COLS = "r.rid, r.res_type, r.id, r.version, r.last_updated, " + _content_sql("r")


def _types(ctx: OperationContext, compartment: str) -> list[str]:
    members = sorted(compartments.members(compartment))
    wanted = ctx.params.str("_type")
    if wanted is None:  # AuditEvents record access to the record and are not part of it: only on request
        return [m for m in members if m != "AuditEvent"]
    asked = [t.strip() for t in wanted.split(",") if t.strip()]
    unknown = [t for t in asked if t not in members and t != compartment]
    if unknown:
        raise BadRequest(f"_type: {', '.join(unknown)} not in the {compartment} compartment")
    return [t for t in members if t in asked]


def _period_condition(ctx: OperationContext, registry: Any, res_type: str) -> Cond | None:
    start, end = ctx.params.date("start"), ctx.params.date("end")
    if start is None and end is None:
        return None
    sp = registry.get(res_type, "date")
    if sp is None or sp.type != "date":
        return None  # no clinical date: not filtered by start/end
    lo = start[0] if start else None
    hi = end[1] if end else None
    parts, args = ["pid = %s"], [sp.pid]
    if lo is not None:
        parts.append("hi > %s")
        args.append(lo)
    if hi is not None:
        parts.append("lo < %s")
        args.append(hi)
    return Cond(f"r.rid IN (SELECT rid FROM idx_date WHERE {' AND '.join(parts)})", args)


def _members_condition(ctx: OperationContext, compartment: str, owner: str) -> Cond:
    registry = ctx.server.registry
    options = []
    focal_types = _types(ctx, compartment)
    wanted = ctx.params.str("_type")
    if wanted is None or compartment in [t.strip() for t in wanted.split(",")]:
        options.append(Cond("(r.res_type = %s AND r.id = %s)", [compartment, owner]))
    for t in focal_types:
        member = compartments.condition(registry, compartment, owner, t)
        cond = Cond(f"r.res_type = %s AND ({member.sql})", [t, *member.args])
        period = _period_condition(ctx, registry, t)
        if period is not None:
            cond = cond & period
        options.append(cond)
    return any_of(options)


async def everything(ctx: OperationContext, compartment: str) -> OperationResult:
    assert ctx.res_id is not None
    asked = ctx.params.int("_count", DEFAULT_COUNT)
    if asked is not None and asked < 0:
        raise BadRequest(f"_count must be a non-negative integer, not '{asked}'", expression=["_count"])
    count = min(asked or DEFAULT_COUNT, MAX_COUNT)
    conds = [Cond("NOT r.deleted"), _members_condition(ctx, compartment, ctx.res_id)]
    since = ctx.params.date("_since")
    if since is not None:
        conds.append(Cond("r.last_updated >= %s", [since[0]]))
    cursor = ctx.params.str("_cursor")
    if cursor is not None:
        if not cursor.isdigit():
            raise BadRequest("_cursor is not a paging cursor of this operation")
        conds.append(Cond("r.rid > %s", [int(cursor)]))
    types = sorted({compartment, *compartments.members(compartment)})
    conds.extend(access.restriction("search-type", types))
    where = all_of(conds)
    async with ctx.server.pool.connection() as conn:
        cur = await conn.execute(f"SELECT {_COLS} FROM resource r WHERE {where.sql} ORDER BY r.rid LIMIT %s",
                                 [*where.args, count + 1])
        rows = list(await cur.fetchall())
        more = len(rows) > count
        rows = rows[:count]
        refs = await _referenced(conn, ctx, rows, set(types))
    bundle = new_bundle("searchset", links=_links(ctx, compartment, rows, more))
    if not more and cursor is None:
        bundle["total"] = len(rows)
    bundle["entry"] = [_entry(ctx.base, r, "match") for r in rows] + [_entry(ctx.base, r, "include") for r in refs]
    return OperationResult(resource=bundle)


async def _referenced(conn: Any, ctx: OperationContext, rows: list[Any], members: set[str]) -> list[Any]:
    """Resources the page refers to that are outside the compartment (practitioners, organizations…)."""
    if not rows:
        return []
    spec = IncludeSpec(ctx.server.registry, "*", False, False)
    found, _ = await included(conn, [spec], [r[:6] for r in rows], 1000)
    outside = [r for r in found if r[1] not in members]
    visible = await access.visible_ids(conn, "read", [(r[1], r[2]) for r in outside])
    return [r for r in outside if (r[1], r[2]) in visible]


def _entry(base: str, row: Any, mode: str) -> Json:
    content = content_bytes(row[5])
    return {"fullUrl": f"{base}/{row[1]}/{row[2]}", "resource": orjson.Fragment(content), "search": {"mode": mode}}


def _links(ctx: OperationContext, compartment: str, rows: list[Any], more: bool) -> list[Json]:
    from urllib.parse import urlencode

    keep = [(n, v) for n, v in ctx.params.pairs if isinstance(v, str) and n != "_cursor"]
    path = f"{ctx.base}/{compartment}/{ctx.res_id}/$everything"
    links = [{"relation": "self", "url": path + ("?" + urlencode(keep) if keep else "")}]
    if more and rows:
        links.append({"relation": "next", "url": path + "?" + urlencode([*keep, ("_cursor", str(rows[-1][0]))])})
    return links


def _check_dates(ctx: OperationContext) -> None:
    ranges = {}
    for name in ("start", "end", "_since"):
        value = ctx.params.str(name)
        if value is not None:
            try:
                ranges[name] = date_range(value)
            except ValueError as exc:
                raise BadRequest(f"{name}: '{value}' is not a date/dateTime", expression=[name]) from exc
    if "start" in ranges and "end" in ranges and ranges["start"][0] >= ranges["end"][1]:
        raise BadRequest("'start' must not be after 'end'", expression=["start", "end"])


@operation("everything", instance=True, resource_types=("Patient",),
           definition={"resourceType": "OperationDefinition", "url":
                       "http://hl7.org/fhir/OperationDefinition/Patient-everything"})
async def patient_everything(ctx: OperationContext) -> OperationResult:
    _check_dates(ctx)
    access.require("read", "Patient")
    return await everything(ctx, "Patient")


@operation("everything", instance=True, resource_types=("Encounter",),
           definition={"resourceType": "OperationDefinition", "url":
                       "http://hl7.org/fhir/OperationDefinition/Encounter-everything"})
async def encounter_everything(ctx: OperationContext) -> OperationResult:
    _check_dates(ctx)
    access.require("read", "Encounter")
    return await everything(ctx, "Encounter")
