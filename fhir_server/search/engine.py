"""Running a search (http://hl7.org/fhir/R4/search.html): filters, sort, page, total, includes → a searchset Bundle.

One parameterised query for the page (``count + 1`` rows to know whether a next page exists), one
optional count, and the include queries. Parameters the server does not know or support are left
out of the ``self`` link and reported in an OperationOutcome entry (search.mode = outcome), or
refused with 400 under ``Prefer: handling=strict`` (search.html#errors). Values the database
cannot take (a NUL byte, a number out of range) are 400s too, never 500s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from fhir_server.errors import BadRequest
from fhir_server.fhir.bundle import new_bundle
from fhir_server.model import model
from fhir_server.search import compartments, paging, results
from fhir_server.search.compiler import Compiler
from fhir_server.search.include import IncludeSpec, UnknownInclude, included
from fhir_server.search.params import Filter, SearchRequest, parse
from fhir_server.search.registry import Registry
from fhir_server.search.results import Row
from fhir_server.search.sort import SortKey, UnsortableError, sort_key
from fhir_server.search.sql import Cond, all_of, any_of
from fhir_server.search.types import special
from fhir_server.storage.repository import Conn, _content_sql

Json = dict[str, Any]
TOTAL_CAP = 10_000  # default: an exact total when there are at most this many matches
INCLUDE_LIMIT = 1000
ROW_LEVEL = ("_id", "_lastUpdated", "_list")
_COLS = "r.rid, r.res_type, r.id, r.version, r.last_updated, " + _content_sql("r")


@dataclass(slots=True)
class Scope:
    """What is searched: one type (or several for system search), maybe inside a compartment."""

    types: list[str]
    path: str  # the URL path of the search, for links ("Observation", "Patient/1/Observation", "")
    compartment: tuple[str, str] | None = None
    extra: list[Cond] = field(default_factory=list)  # e.g. the caller's access restriction


@dataclass(slots=True)
class Options:
    base: str
    default_count: int = 20
    max_count: int = 1000
    strict: bool = False


@dataclass(slots=True)
class Plan:
    """A parsed and compiled search: what runs, and what the self link shows."""

    req: SearchRequest
    where: Cond
    keys: list[SortKey]
    specs: list[IncludeSpec]
    link_params: list[tuple[str, str]]
    ignored: list[tuple[str, str]]
    near: Cond | None


def _check_elements(names: list[str], types: list[str], ignored: list[tuple[str, str]]) -> None:
    """Report ``_elements`` names that are no element of the searched type(s) (search.html#elements)."""
    m = model()
    for name in names:
        head, dot, rest = name.partition(".")
        element = rest if dot and head in types else name
        known = False
        for t in types:
            info = m.type(t)
            if info is not None and element in info.elements:
                known = True
                break
        if not known:
            ignored.append(("_elements", f"'{name}' is not an element of the searched type, so it was not applied"))


class SearchEngine:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def search(self, conn: Conn, scope: Scope, params: list[tuple[str, str]], opts: Options) -> Json:
        plan = self.plan(scope, params, opts)
        try:
            return await self._run(conn, scope, plan, opts)
        except psycopg.DataError as exc:  # e.g. a value out of the range of its column type
            raise BadRequest(f"A search value cannot be used: {str(exc).splitlines()[0]}") from exc

    def plan(self, scope: Scope, params: list[tuple[str, str]], opts: Options) -> Plan:
        req = parse(params, opts.max_count)
        compiler = Compiler(self.registry, opts.base)
        where, applied = self._where(compiler, scope, req)
        ignored = req.ignored + compiler.ignored
        keys, sort_text = self._sort(req, scope, ignored)
        specs, include_params = self._includes(req, ignored, scope.types)
        if req.elements:
            _check_elements(req.elements, scope.types, ignored)
        if ignored and opts.strict:
            raise BadRequest("; ".join(f"{name}: {why}" for name, why in ignored),
                             expression=[name for name, _ in ignored])
        near = self._near(req.filters, scope)
        if near is not None and not keys:
            keys = [SortKey("near", False, near.sql, "float")]
        link = [(f.raw_name, f.link_value()) for f in applied]
        if sort_text:
            link.append(("_sort", sort_text))
        link += include_params
        for name, value in (("_count", req.count), ("_summary", req.summary), ("_total", req.total)):
            if value is not None:
                link.append((name, str(value)))
        if req.elements:
            link.append(("_elements", ",".join(req.elements)))
        return Plan(req, where, keys, specs, link, ignored, near)

    async def _run(self, conn: Conn, scope: Scope, plan: Plan, opts: Options) -> Json:
        req = plan.req
        if req.summary == "count":
            n = await self._count(conn, plan.where, None)
            return new_bundle("searchset", total=n, links=[
                {"relation": "self", "url": results.url(opts.base, scope.path, plan.link_params)}])
        count = req.count if req.count is not None else opts.default_count
        cursor = paging.decode(req.cursor, plan.keys) if req.cursor else None
        rows, more = await self._page(conn, plan.where, plan.keys, cursor, count, plan.near)
        total = await self._total(conn, req, plan.where, cursor, rows, more, count)
        bundle = new_bundle("searchset", total=total, links=results.links(
            opts.base, scope.path, plan.link_params, plan.keys, rows, more, cursor, total))
        extra: list[Row] = []
        if plan.specs and rows:
            extra, cut = await included(conn, plan.specs, [r[:6] for r in rows], INCLUDE_LIMIT)
            if cut:
                plan.ignored.append(("_include", f"only the first {INCLUDE_LIMIT} included resources are returned"))
        bundle["entry"] = [results.entry(opts.base, r, "match", req, plan.near is not None) for r in rows]
        bundle["entry"] += [results.entry(opts.base, r, "include", req, False) for r in extra]
        if plan.ignored:
            bundle["entry"].append(results.outcome_entry(plan.ignored))
        return bundle

    # ---- building the query -------------------------------------------------------------------

    def _where(self, compiler: Compiler, scope: Scope, req: SearchRequest) -> tuple[Cond, list[Filter]]:
        conds = [Cond("NOT r.deleted")]
        if len(scope.types) == 1:
            conds.append(Cond("r.res_type = %s", [scope.types[0]]))
            cond, applied = compiler.filters(scope.types[0], req.filters)
            conds.append(cond)
        else:
            conds.append(Cond("r.res_type = ANY(%s)", [scope.types]))
            applied = []
            for f in req.filters:
                if f.code in ROW_LEVEL and f.chain is None:  # the same SQL for every type
                    c, ok = compiler.filters(scope.types[0], [f])
                    conds.append(c)
                    applied.extend(ok)
                    continue
                per_type = []
                for t in scope.types:
                    c, ok = Compiler(self.registry, compiler.base_url).filters(t, [f])
                    if ok:
                        per_type.append(Cond(f"r.res_type = %s AND ({c.sql})", [t, *c.args]))
                if per_type:
                    conds.append(any_of(per_type))
                    applied.append(f)
                else:
                    compiler.ignored.append((f.raw_name, f"'{f.code}' is not a search parameter of these types"))
        if scope.compartment is not None:
            conds.append(compartments.condition(self.registry, *scope.compartment, scope.types[0]))
        conds.extend(scope.extra)
        return all_of(conds), applied

    def _sort(self, req: SearchRequest, scope: Scope, ignored: list[tuple[str, str]]) -> tuple[list[SortKey], str]:
        res_type = scope.types[0] if len(scope.types) == 1 else None
        keys = []
        for code, desc in req.sort:
            try:
                keys.append(sort_key(self.registry, res_type, code, desc))
            except UnsortableError:
                ignored.append(("_sort", f"cannot sort on '{code}'"))
        return keys, ",".join(("-" if k.descending else "") + k.code for k in keys)

    def _includes(self, req: SearchRequest, ignored: list[tuple[str, str]],
                  types: list[str]) -> tuple[list[IncludeSpec], list[tuple[str, str]]]:
        specs, shown = [], []
        for values, reverse in ((req.includes, False), (req.revincludes, True)):
            for value, iterate in values:
                name = ("_revinclude" if reverse else "_include") + (":iterate" if iterate else "")
                try:
                    spec = IncludeSpec(self.registry, value, iterate, reverse)
                except UnknownInclude as exc:
                    ignored.append((f"{name}={value}", str(exc)))
                    continue
                # search.html#include: an _include's source is the searched type (or, with :iterate, what
                # was included); a _revinclude's target type (if given) must be a searched type
                off = spec.target if reverse else spec.source_type
                if not iterate and off is not None and off not in types:
                    role = "refer to" if reverse else "start from"
                    ignored.append((f"{name}={value}", f"it does not {role} the searched type "
                                    f"{' or '.join(types[:3])}{'…' if len(types) > 3 else ''}, so it was not applied"))
                    continue
                specs.append(spec)
                shown.append((name, value))
        return specs, shown

    def _near(self, filters: list[Filter], scope: Scope) -> Cond | None:
        for f in filters:
            if f.code == "near" and f.modifier is None and scope.types == ["Location"] and f.values:
                sp = self.registry.get("Location", "near")
                if sp is None:
                    return None
                lat, lon, _ = special.parse_near(f.values[0])
                dist = special.distance_sql(lat, lon)
                return Cond(f"(SELECT min({dist}) FROM idx_geo g WHERE g.rid = r.rid AND g.pid = {int(sp.pid)})")
        return None

    async def _page(self, conn: Conn, where: Cond, keys: list[SortKey], cursor: paging.Cursor | None,
                    count: int, near: Cond | None) -> tuple[list[Row], bool]:
        """One page of matches. The inner query finds and orders the rids (and sort values) of the page;
        only those ``count + 1`` rows are then read in full, so no other match has its JSON built."""
        if count == 0:
            return [], False
        forward = cursor.forward if cursor else True
        cond = where & paging.beyond(keys, cursor) if cursor else where
        inner_cols = "".join(f", {k.sql} AS k{i}" for i, k in enumerate(keys))
        outer_cols = "".join(f", p.k{i}" for i in range(len(keys)))
        if near is not None:
            inner_cols += f", {near.sql} AS dist"
            outer_cols += ", p.dist"
        outer_keys = [SortKey(k.code, k.descending, f"p.k{i}", k.kind) for i, k in enumerate(keys)]
        sql = (f"SELECT {_COLS}{outer_cols} FROM (SELECT r.rid{inner_cols} FROM resource r WHERE {cond.sql} "
               f"ORDER BY {paging.order_by(keys, forward)} LIMIT %s) p JOIN resource r ON r.rid = p.rid "
               f"ORDER BY {paging.order_by(outer_keys, forward, 'p.rid')}")
        cur = await conn.execute(sql, [*cond.args, count + 1])
        rows = list(await cur.fetchall())
        more = len(rows) > count
        rows = rows[:count]
        if not forward:
            rows.reverse()
        return rows, more

    async def _count(self, conn: Conn, where: Cond, cap: int | None) -> int:
        if cap is None:
            cur = await conn.execute(f"SELECT count(*) FROM resource r WHERE {where.sql}", where.args)
        else:
            cur = await conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM resource r WHERE {where.sql} LIMIT %s) capped",
                [*where.args, cap + 1],
            )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _total(self, conn: Conn, req: SearchRequest, where: Cond, cursor: paging.Cursor | None,
                     rows: list[Row], more: bool, count: int) -> int | None:
        if req.total == "none":
            return None
        if cursor is not None:
            return cursor.total
        if not more and count > 0:
            return len(rows)
        if req.total == "accurate":
            return await self._count(conn, where, None)
        if req.total == "estimate":
            return await self._estimate(conn, where)
        n = await self._count(conn, where, TOTAL_CAP)
        return n if n <= TOTAL_CAP else None

    async def _estimate(self, conn: Conn, where: Cond) -> int:
        cur = await conn.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE {where.sql}", where.args)
        row = await cur.fetchone()
        plan = orjson.loads(row[0]) if row else [{"Plan": {"Plan Rows": 0}}]
        return int(plan[0]["Plan"]["Plan Rows"])
