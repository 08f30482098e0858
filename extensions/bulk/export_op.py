"""Bulk Data kick-off request (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request):
``[base]/$export``, ``[base]/Patient/$export`` and ``[base]/Group/[id]/$export``.

The kick-off checks everything the client asked for and turns it into one SQL condition per
resource type, kept in the job (the export runs after the request and its token are gone):

- the types: ``_type`` (each must be searchable with the caller's token: 403 otherwise, as the
  IG's authorization page says), or every type the token may search; Patient and Group exports
  take the Patient compartment's types (R4 CompartmentDefinition) and Patient itself;
- the patients: any patient (Patient level), the active Patient members of the Group, narrowed by
  the POST-only ``patient`` parameter;
- ``_typeFilter`` queries compiled by the search engine (several for one type are OR-ed), ``_since``;
- the caller's row restriction (``fhir_server.access.restriction``): a patient-scoped token exports
  that patient's compartment only — the IG's "SHALL limit the data returned to only those FHIR
  resources for which the client is authorized".

What the server cannot honour (``_elements``, ``includeAssociatedData``, unknown types or
parameters) is a 400, or left out and reported under ``Prefer: handling=lenient``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from extensions.bulk import store
from extensions.bulk.common import NDJSON_TYPES, accepted, caller, comma_values, prefer_flags, wake
from extensions.bulk.definitions import EXPORT_PARAMS, GROUP_EXPORT, PATIENT_EXPORT, SYSTEM_EXPORT
from fhir_server import access, definitions
from fhir_server.errors import BadRequest, Forbidden
from fhir_server.fhir.json import now
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.search import compartments
from fhir_server.search.engine import Options, Scope
from fhir_server.search.params import RESULT_PARAMS
from fhir_server.search.registry import Registry
from fhir_server.search.sql import Cond, all_of, any_of
from fhir_server.storage import repository

Json = dict[str, Any]
UNSUPPORTED = ("_elements", "includeAssociatedData")
_FILTER_START = re.compile(r",(?=[A-Z][A-Za-z]+\?)")  # a comma that starts the next [type]? query


class Notes:
    """What a lenient kick-off left out (reported in the 202's OperationOutcome)."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.items: list[str] = []

    def refuse(self, message: str) -> None:
        if not self.lenient:
            raise BadRequest(message)
        self.items.append(message + " (left out: Prefer handling=lenient)")


def _check_parameters(ctx: OperationContext, notes: Notes) -> None:
    for name in sorted(ctx.params.names()):
        if name not in EXPORT_PARAMS:
            notes.refuse(f"$export has no parameter '{name}'")
        elif name in UNSUPPORTED:
            notes.refuse(f"{name} is not supported by this server")
    for fmt in comma_values(ctx.params.all("_outputFormat"), "_outputFormat"):
        if fmt.split(";")[0].strip().lower() not in NDJSON_TYPES:
            raise BadRequest(f"_outputFormat '{fmt}' is not supported: use application/fhir+ndjson")


def _since(ctx: OperationContext) -> datetime | None:
    found = ctx.params.date("_since")
    return found[0] if found else None


def _types(ctx: OperationContext, candidates: list[str], notes: Notes) -> list[str]:
    asked = comma_values(ctx.params.all("_type"), "_type")
    if ctx.params.all("_type") and not asked:
        raise BadRequest("_type names no resource type")
    if not asked:
        allowed = access.current().types("search-type", candidates)
        if not allowed:
            raise Forbidden("The access token allows searching none of the resource types this export covers",
                            headers=access.SCOPE_HEADER)
        return allowed
    known = definitions.resource_types()
    out: list[str] = []
    for t in dict.fromkeys(asked):
        if t not in known:
            notes.refuse(f"_type: '{t}' is not an R4 resource type")
        elif t not in candidates:
            notes.refuse(f"_type: {t} is not in the Patient compartment, which this export covers")
        else:
            access.require("search-type", t)  # asked explicitly for data it may not see: refused (403)
            out.append(t)
    if not out:
        raise BadRequest("_type leaves no resource type to export")
    return out


def _type_filters(ctx: OperationContext, types: list[str], notes: Notes) -> dict[str, Cond]:
    found: dict[str, list[Cond]] = {}
    for raw in ctx.params.all("_typeFilter"):
        if not isinstance(raw, str):
            raise BadRequest("Parameter '_typeFilter' must be a string")
        for query in (q.strip() for q in _FILTER_START.split(raw)):
            res_type, mark, text = query.partition("?")
            if not mark or res_type not in definitions.resource_types():
                raise BadRequest(f"_typeFilter '{query}' is not a [type]?[search parameters] query")
            if res_type not in types:
                notes.refuse(f"_typeFilter '{query}': {res_type} is not among the types exported")
                continue
            pairs = parse_qsl(text, keep_blank_values=True)
            bad = [n for n, _ in pairs if n.split(":")[0] in RESULT_PARAMS]
            if bad:
                raise BadRequest(f"_typeFilter '{query}': search result parameters ({', '.join(bad)}) may not be "
                                 "used")
            options = Options(ctx.base, strict=not notes.lenient)
            plan = ctx.server.engine.plan(Scope([res_type], res_type), pairs, options)
            found.setdefault(res_type, []).append(plan.where)
    return {t: any_of(conds) for t, conds in found.items()}


def _patient_ref(value: Any, base: str) -> str:
    ref = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(ref, str):
        raise BadRequest("patient: each value must be a Reference to a Patient")
    if ref.startswith(base + "/"):
        ref = ref[len(base) + 1:]
    kind, _, pid = ref.partition("/")
    if kind != "Patient" or not pid or "/" in pid:
        raise BadRequest(f"patient: '{ref}' is not a reference to a Patient (Patient/[id])")
    return pid


async def _group_members(conn: Any, group_id: str, base: str) -> list[str]:
    row = await repository.read(conn, "Group", group_id)
    group = orjson.loads(row.content) if row is not None and row.content else {}
    out: list[str] = []
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        ref = (member.get("entity") or {}).get("reference")
        if isinstance(ref, str):
            ref = ref[len(base) + 1:] if ref.startswith(base + "/") else ref
            kind, _, pid = ref.partition("/")
            if kind == "Patient" and pid and pid not in out:
                out.append(pid)
    return out


async def _patients(conn: Any, ctx: OperationContext, notes: Notes) -> list[str] | None:
    """The patients whose data is exported: None for every patient (Patient level without ``patient``)."""
    asked = [_patient_ref(v, ctx.base) for v in ctx.params.all("patient")]
    if ctx.level == "system":
        if asked:
            raise BadRequest("patient does not apply to a system-level export")
        return None
    if ctx.level == "instance":
        assert ctx.res_id is not None
        members = await _group_members(conn, ctx.res_id, ctx.base)
        if not asked:
            return members
        outside = [p for p in asked if p not in members]
    else:
        if not asked:
            return None
        cur = await conn.execute("SELECT id FROM resource WHERE res_type = 'Patient' AND id = ANY(%s) "
                                 "AND NOT deleted", (asked,))
        known = {r[0] for r in await cur.fetchall()}
        outside = [p for p in asked if p not in known]
    for p in outside:
        notes.refuse(f"patient: Patient/{p} is not " + ("a member of the group" if ctx.level == "instance"
                                                         else "known to this server"))
    return [p for p in dict.fromkeys(asked) if p not in outside]


def member_condition(registry: Registry, res_type: str, patients: list[str] | None) -> Cond:
    """Rows of ``res_type`` in the Patient compartment of these patients (None: of any patient); the list is
    kept once in the job (``store.PATIENTS`` in the arguments)."""
    if res_type == "Patient":
        return Cond("true") if patients is None else Cond("r.id = ANY(%s)", [store.PATIENTS])
    pids = [sp.pid for code in compartments.members("Patient").get(res_type, ())
            if (sp := registry.get(res_type, code)) is not None and sp.type == "reference"]
    if not pids:
        return Cond("false")
    if patients is None:
        return Cond("r.rid IN (SELECT rid FROM idx_reference WHERE pid = ANY(%s) AND target_type = 'Patient')",
                    [pids])
    return Cond("r.rid IN (SELECT rid FROM idx_reference WHERE pid = ANY(%s) AND target_id = ANY(%s) "
                "AND target_type = 'Patient')", [pids, store.PATIENTS])


def _request_url(ctx: OperationContext) -> str:
    path = {"system": "", "type": "/Patient", "instance": f"/Group/{ctx.res_id}"}[ctx.level] + "/$export"
    query = urlencode([(k, v) for k, v in ctx.params.pairs if isinstance(v, str)])
    return ctx.base + path + (f"?{query}" if query else "")


async def kick_off(ctx: OperationContext) -> OperationResult:
    notes = Notes(prefer_flags(ctx.headers)[1])
    _check_parameters(ctx, notes)
    since = _since(ctx)
    registry: Registry = ctx.server.registry
    if ctx.level == "system":
        candidates = sorted(definitions.resource_types())
    else:
        candidates = ["Patient", *sorted(t for t in compartments.members("Patient") if t != "Patient")]
    types = _types(ctx, candidates, notes)
    filters = _type_filters(ctx, types, notes)
    parts: list[Json] = []
    async with ctx.server.pool.connection() as conn:
        patients = await _patients(conn, ctx, notes)
        for t in types:
            conds = [] if ctx.level == "system" else [member_condition(registry, t, patients)]
            if conds and conds[0].sql == "false":
                continue
            conds += [filters[t]] if t in filters else []
            restriction = access.restriction("search-type", [t])
            kept = store.encode_cond(restriction[0]) if restriction else None
            changed = [Cond("r.last_updated > %s", [since])] if since is not None else []
            parts.append({"type": t, "where": store.encode_cond(all_of(conds + changed + restriction)),
                          "access": kept})
            if since is not None and not conds and not restriction:  # deletions are known without index rows
                parts.append({"type": t, "kind": "deleted", "where": store.encode_cond(changed[0]), "access": None})
        spec: Json = {"parts": parts, "patients": patients, "notes": notes.items,
                      "since": since.isoformat() if since is not None else None}
        job_id = store.new_id()
        await store.create(conn, job_id, "export", caller(), _request_url(ctx), spec, now())
    wake(ctx.server)
    return accepted(ctx.base, job_id, "Export", notes.items)


@operation("export", system=True, definition=SYSTEM_EXPORT)
async def system_export(ctx: OperationContext) -> OperationResult:
    return await kick_off(ctx)


@operation("export", type=True, resource_types=("Patient",), definition=PATIENT_EXPORT)
async def patient_export(ctx: OperationContext) -> OperationResult:
    return await kick_off(ctx)


@operation("export", instance=True, resource_types=("Group",), definition=GROUP_EXPORT)
async def group_export(ctx: OperationContext) -> OperationResult:
    return await kick_off(ctx)
