"""Running a search (http://hl7.org/fhir/R4/search.html): filters, sort, page, total, includes → a searchset Bundle.

One parameterised query for the page (``count + 1`` rows to know whether a next page exists), one
optional count, and the include queries. The ``self`` link lists only the parameters applied;
parameters that were not applied are reported in an OperationOutcome entry (search.mode =
outcome), or refused with 400 under ``Prefer: handling=strict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server.errors import BadRequest
from fhir_server.fhir import summary
from fhir_server.fhir.bundle import new_bundle
from fhir_server.search import compartments, paging
from fhir_server.search.compiler import Compiler
from fhir_server.search.include import IncludeSpec, Row, included
from fhir_server.search.params import Filter, SearchRequest, parse
from fhir_server.search.registry import Registry
from fhir_server.search.sort import SortKey, UnsortableError, sort_keys
from fhir_server.search.sql import Cond, all_of
from fhir_server.search.types import special
from fhir_server.storage.repository import Conn, _content_sql

Json = dict[str, Any]
TOTAL_CAP = 10_000  # default: an exact total when there are at most this many matches
INCLUDE_LIMIT = 1000
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


class SearchEngine:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def search(self, conn: Conn, scope: Scope, params: list[tuple[str, str]], opts: Options) -> Json:
        req = parse(params, opts.max_count)
        compiler = Compiler(self.registry, opts.base)
        where, applied = self._where(compiler, scope, req)
        keys = self._sort(req, scope)
        ignored = req.ignored + compiler.ignored
        if ignored and opts.strict:
            raise BadRequest("; ".join(f"{name}: {why}" for name, why in ignored),
                             expression=[name for name, _ in ignored])
        near = self._near(req.filters, scope)
        if near is not None and not req.sort:
            keys = [SortKey("near", False, near.sql)]
        count = req.count if req.count is not None else opts.default_count
        links_params = self._link_params(applied, req)
        if req.summary == "count":
            total = await self._count(conn, where, None)
            return new_bundle("searchset", total=total,
                              links=[{"relation": "self", "url": self._url(opts.base, scope.path, links_params)}])
        cursor = paging.decode(req.cursor, len(keys)) if req.cursor else None
        rows, more = await self._page(conn, where, keys, cursor, count, near)
        total = await self._total(conn, req, where, cursor, rows, more)
        bundle = new_bundle("searchset", total=total, links=self._links(opts.base, scope.path, links_params, keys,
                                                                          rows, more, cursor, total))
        specs = [IncludeSpec(self.registry, v, it, False) for v, it in req.includes]
        specs += [IncludeSpec(self.registry, v, it, True) for v, it in req.revincludes]
        extra, cut = await included(conn, specs, [r[:6] for r in rows], INCLUDE_LIMIT) if specs and rows else ([], False)
        if cut:
            ignored.append(("_include", f"only the first {INCLUDE_LIMIT} included resources are returned"))
        bundle["entry"] = [self._entry(opts.base, r, "match", req, near is not None) for r in rows]
        bundle["entry"] += [self._entry(opts.base, r, "include", req, False) for r in extra]
        if ignored:
            bundle["entry"].append(_outcome_entry(ignored))
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
                per_type = []
                for t in scope.types:
                    sub = Compiler(self.registry, compiler.base_url)
                    c, ok = sub.filters(t, [f])
                    if ok:
                        per_type.append(Cond(f"(r.res_type = %s AND ({c.sql}))", [t, *c.args]))
                if per_type:
                    conds.append(Cond(" OR ".join(p.sql for p in per_type), [a for p in per_type for a in p.args]))
                    applied.append(f)
                else:
                    compiler.ignored.append((f.raw_name, f"'{f.code}' is not a search parameter of these types"))
        if scope.compartment is not None:
            conds.append(compartments.condition(self.registry, *scope.compartment, scope.types[0]))
        conds.extend(scope.extra)
        return all_of(conds), applied

    def _sort(self, req: SearchRequest, scope: Scope) -> list[SortKey]:
        res_type = scope.types[0] if len(scope.types) == 1 else None
        keys = []
        for code, desc in req.sort:
            try:
                keys.extend(sort_keys(self.registry, res_type, [(code, desc)]))
            except UnsortableError:
                req.ignored.append(("_sort", f"cannot sort on '{code}'"))
        return keys

    def _near(self, filters: list[Filter], scope: Scope) -> Cond | None:
        for f in filters:
            if f.code == "near" and scope.types == ["Location"] and f.values:
                sp = self.registry.get("Location", "near")
                if sp is None:
                    return None
                lat, lon, _ = special.parse_near(f.values[0])
                dist = special.distance_sql(lat, lon)
                return Cond(f"(SELECT min({dist}) FROM idx_geo g WHERE g.rid = r.rid AND g.pid = {int(sp.pid)})")
        return None

    async def _page(self, conn: Conn, where: Cond, keys: list[SortKey], cursor: paging.Cursor | None,
                    count: int, near: Cond | None) -> tuple[list[Row], bool]:
        if count == 0:
            return [], False
        forward = cursor.forward if cursor else True
        cond = where & paging.beyond(keys, cursor) if cursor else where
        extra_cols = "".join(f", {k.sql}" for k in keys)
        near_col = f", {near.sql}" if near is not None else ""
        sql = (f"SELECT {_COLS}{extra_cols}{near_col} FROM resource r WHERE {cond.sql} "
               f"ORDER BY {paging.order_by(keys, forward)} LIMIT %s")
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
                     rows: list[Row], more: bool) -> int | None:
        if req.total == "none":
            return None
        if cursor is not None:
            return cursor.total
        if not more and req.total != "estimate":
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

    # ---- building the Bundle ------------------------------------------------------------------

    def _entry(self, base: str, row: Row, mode: str, req: SearchRequest, with_distance: bool) -> Json:
        content = row[5].encode() if isinstance(row[5], str) else row[5]
        resource: Any
        if req.summary in ("true", "text", "data") or req.elements:
            data = orjson.loads(content)
            if req.summary in ("true", "text", "data"):
                data = summary.summarize(data, req.summary)
            if req.elements:
                data = summary.elements(data, req.elements)
            resource = data
        else:
            resource = orjson.Fragment(content)
        search: Json = {"mode": mode}
        if with_distance and row[-1] is not None:
            search["extension"] = [{"url": special.DISTANCE_EXT, "valueDistance": {
                "value": round(float(row[-1]), 3), "unit": "km", "system": "http://unitsofmeasure.org", "code": "km"}}]
        return {"fullUrl": f"{base}/{row[1]}/{row[2]}", "resource": resource, "search": search}

    def _link_params(self, applied: list[Filter], req: SearchRequest) -> list[tuple[str, str]]:
        out = [(f.raw_name, ",".join(v.replace(",", "\\,") for v in f.values)) for f in applied]
        return out + req.result_raw

    def _url(self, base: str, path: str, params: list[tuple[str, str]]) -> str:
        query = urlencode(params)
        return f"{base}/{path}" + (f"?{query}" if query else "")

    def _links(self, base: str, path: str, params: list[tuple[str, str]], keys: list[SortKey], rows: list[Row],
               more: bool, cursor: paging.Cursor | None, total: int | None) -> list[Json]:
        links = [{"relation": "self", "url": self._url(base, path, params + _cursor_param(cursor))}]
        if cursor is not None:
            links.append({"relation": "first", "url": self._url(base, path, params)})
        n = len(keys)
        forward = cursor.forward if cursor else True
        has_next = more if forward else cursor is not None
        has_prev = (cursor is not None) if forward else more
        if rows and has_next:
            last = rows[-1]
            c = paging.Cursor(True, [last[6 + i] for i in range(n)], last[0], total)
            links.append({"relation": "next", "url": self._url(base, path, params + [("_cursor", paging.encode(c))])})
        if rows and has_prev:
            first = rows[0]
            c = paging.Cursor(False, [first[6 + i] for i in range(n)], first[0], total)
            links.append({"relation": "previous",
                          "url": self._url(base, path, params + [("_cursor", paging.encode(c))])})
        return links


def _cursor_param(cursor: paging.Cursor | None) -> list[tuple[str, str]]:
    return [("_cursor", paging.encode(cursor))] if cursor else []


def _outcome_entry(ignored: list[tuple[str, str]]) -> Json:
    issues = [{"severity": "warning", "code": "not-supported", "diagnostics": f"{name} was not applied: {why}",
               "expression": [name]} for name, why in ignored]
    return {"resource": {"resourceType": "OperationOutcome", "issue": issues}, "search": {"mode": "outcome"}}
