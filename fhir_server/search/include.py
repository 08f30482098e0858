"""``_include`` and ``_revinclude`` (http://hl7.org/fhir/R4/search.html#include), with ``:iterate``.

Included resources appear once (never twice, never again if they are already matches), with
``search.mode = include``, and do not count in ``total``. At most ``limit`` are added per page.
"""

from __future__ import annotations

from typing import Any

from fhir_server import definitions
from fhir_server.errors import BadRequest
from fhir_server.search.registry import Registry
from fhir_server.storage.repository import Conn, _content_sql

Row = tuple[Any, ...]  # rid, res_type, id, version, last_updated, content
ITERATIONS = 4
_COLS = "t.rid, t.res_type, t.id, t.version, t.last_updated, " + _content_sql("t")


class UnknownInclude(Exception):
    """An include naming a parameter this server does not know (reported, not applied)."""


class IncludeSpec:
    """``Type:param[:target]`` (or ``*``, ``Type:*``) resolved to reference parameter ids."""

    def __init__(self, registry: Registry, value: str, iterate: bool, reverse: bool) -> None:
        self.value, self.iterate, self.reverse = value, iterate, reverse
        self.source_type: str | None = None
        self.target: str | None = None
        name = "_revinclude" if reverse else "_include"
        parts = value.split(":")
        if value == "*":  # every reference of the matches (or, reversed, every reference to them)
            self.pids = [p.pid for t in definitions.resource_types() for p in registry.params(t).values()
                         if p.type == "reference" and p.supported]
            return
        if len(parts) not in (2, 3) or not all(parts):
            raise BadRequest(f"{name}={value}: expected [type]:[parameter][:target type]")
        if parts[0] not in definitions.resource_types():
            raise BadRequest(f"{name}={value}: {parts[0]} is not a resource type")
        self.source_type = parts[0]
        self.target = parts[2] if len(parts) == 3 else None
        if self.target is not None and self.target not in definitions.resource_types():
            raise BadRequest(f"{name}={value}: {self.target} is not a resource type")
        if parts[1] == "*":
            self.pids = [p.pid for p in registry.params(parts[0]).values() if p.type == "reference" and p.supported]
            return
        sp = registry.get(parts[0], parts[1])
        if sp is None:
            raise UnknownInclude(f"'{parts[1]}' is not a search parameter of {parts[0]}")
        if sp.type != "reference":
            raise BadRequest(f"{name}={value}: '{parts[1]}' is not a reference parameter of {parts[0]}")
        if self.target and sp.targets and self.target not in sp.targets:
            raise BadRequest(f"{name}={value}: {self.target} is not a target of {parts[0]}.{parts[1]}")
        self.pids = [sp.pid]


async def _forward(conn: Conn, spec: IncludeSpec, sources: list[Row], limit: int) -> list[Row]:
    rids = [r[0] for r in sources if spec.source_type in (None, r[1])]
    if not rids or not spec.pids:
        return []
    sql = (f"SELECT DISTINCT ON (t.rid) {_COLS} FROM idx_reference ref JOIN resource t "
           "ON t.res_type = ref.target_type AND t.id = ref.target_id "
           "WHERE ref.rid = ANY(%s) AND ref.pid = ANY(%s) AND NOT t.deleted")
    args: list[Any] = [rids, spec.pids]
    if spec.target:
        sql += " AND ref.target_type = %s"
        args.append(spec.target)
    cur = await conn.execute(sql + " LIMIT %s", [*args, limit])
    return list(await cur.fetchall())


async def _reverse(conn: Conn, spec: IncludeSpec, sources: list[Row], limit: int) -> list[Row]:
    if not sources or not spec.pids:
        return []
    if spec.target:
        sources = [r for r in sources if r[1] == spec.target]
    sql = (f"SELECT DISTINCT ON (t.rid) {_COLS} FROM idx_reference ref JOIN resource t ON t.rid = ref.rid "
           "WHERE ref.pid = ANY(%s) AND (ref.target_type, ref.target_id) IN "
           "(SELECT * FROM unnest(%s::text[], %s::text[])) AND NOT t.deleted LIMIT %s")
    cur = await conn.execute(sql, [spec.pids, [r[1] for r in sources], [r[2] for r in sources], limit])
    return list(await cur.fetchall())


async def included(conn: Conn, specs: list[IncludeSpec], matches: list[Row], limit: int) -> tuple[list[Row], bool]:
    """Resources to include for this page; True as second value when ``limit`` cut the list."""
    seen = {r[0] for r in matches}
    out: list[Row] = []
    sources, first = matches, True
    for _ in range(ITERATIONS):
        found: list[Row] = []
        for spec in specs:
            if not first and not spec.iterate:
                continue
            fetch = _reverse if spec.reverse else _forward
            for row in await fetch(conn, spec, sources, limit + 1):
                if row[0] not in seen:
                    seen.add(row[0])
                    found.append(row)
        out.extend(found)
        if len(out) > limit:
            return out[:limit], True
        if not found or not any(s.iterate for s in specs):
            break
        sources, first = found, False
    return out, False
