"""Search filters → SQL conditions on ``resource`` rows (http://hl7.org/fhir/R4/search.html).

Each filter becomes ``alias.rid IN (SELECT rid FROM idx_<type> WHERE <condition>)`` (``NOT
EXISTS`` for ``:not``, ``:not-in`` and ``:missing=true``), with the condition from the parameter
type's module. Chains nest a query on the referenced resources, ``_has`` a query on the resources
that refer back. Unknown parameters are collected (the caller reports them, or refuses them under
``Prefer: handling=strict``); malformed values are 400s.
"""

from __future__ import annotations

from itertools import count
from typing import Any

from fhir_server import definitions
from fhir_server.errors import BadRequest
from fhir_server.search.normalize import unescape
from fhir_server.search.params import Filter, parse_filter
from fhir_server.search.registry import Registry, SearchParam
from fhir_server.search.sql import Cond, all_of, any_of, no_rows_match, rows_match
from fhir_server.search.types import composite, date, number, quantity, reference, special, string, token, uri
from fhir_server.search.types.prefix import split_prefix

MODULES: dict[str, Any] = {
    "string": string, "token": token, "date": date, "number": number, "quantity": quantity,
    "reference": reference, "uri": uri, "special": special, "composite": composite,
}
UNSUPPORTED = {"_text": "full-text search", "_content": "full-text search", "_query": "named queries",
               "_filter": "_filter expressions", "_type": "_type (a system-level search parameter)"}
MAX_CHAIN = 4


class Unknown(Exception):
    """A parameter this server does not know for this type (reported, not applied)."""


class Compiler:
    def __init__(self, registry: Registry, base_url: str | None) -> None:
        self.registry = registry
        self.base_url = base_url
        self.ignored: list[tuple[str, str]] = []
        self._aliases = count(1)

    def filters(self, res_type: str, filters: list[Filter], alias: str = "r") -> tuple[Cond, list[Filter]]:
        """All filters AND-ed; returns the condition and the filters actually applied."""
        conds, applied = [], []
        for f in filters:
            try:
                conds.append(self.filter(res_type, f, alias, 0))
                applied.append(f)
            except Unknown as exc:
                self.ignored.append((f.raw_name, str(exc)))
        return all_of(conds), applied

    def filter(self, res_type: str, f: Filter, alias: str, depth: int) -> Cond:
        if f.code in UNSUPPORTED:
            raise Unknown(f"{UNSUPPORTED[f.code]} is not supported")
        if f.code == "_has":
            return self._has(res_type, f, alias, depth)
        if f.code == "_id" and f.chain is None:
            return self._id(f, alias)
        if f.code == "_lastUpdated" and f.chain is None:
            return self._last_updated(f, alias)
        if f.code == "_list":
            return self._list(f, alias)
        sp = self.registry.get(res_type, f.code)
        if sp is None or not sp.supported:
            raise Unknown(f"'{f.code}' is not a search parameter of {res_type}")
        if f.chain is not None:
            if sp.type != "reference":
                raise BadRequest(f"'{f.raw_name}': only reference parameters can be chained")
            return self._chain(res_type, sp, f, alias, depth)
        return self._param(sp, f, alias)

    # ---- one parameter ------------------------------------------------------------------------

    def _param(self, sp: SearchParam, f: Filter, alias: str) -> Cond:
        module = MODULES[sp.type]
        modifier = f.modifier
        if modifier == "missing":
            return self._missing(sp, f, alias, module.TABLE)
        type_modifier = sp.type == "reference" and modifier is not None and modifier[:1].isupper()
        if modifier is not None and modifier not in module.MODIFIERS and not type_modifier:
            raise BadRequest(f"'{f.raw_name}': the modifier :{modifier} is not supported for {sp.type} parameters")
        if any(v == "" for v in f.values):
            raise BadRequest(f"'{f.raw_name}' has an empty value")
        if sp.type == "token":
            rows = token.compile(sp.pid, f.values, modifier)
        elif sp.type == "reference":
            rows = reference.compile(sp.pid, f.values, modifier, sp.targets, self.base_url)
        elif sp.type == "uri":
            rows = uri.compile(sp.pid, f.values, modifier)
        elif sp.type == "composite":
            rows = composite.compile(sp.pid, f.values, tuple(c.type for c in sp.components), f.raw_name)
        else:  # string, date, number, quantity, special: one value at a time
            rows = any_of([module.compile(sp.pid, v, modifier, f.raw_name) for v in f.values])
        if modifier in ("not", "not-in"):
            return no_rows_match(module.TABLE, rows, alias)
        return rows_match(module.TABLE, rows, alias)

    def _missing(self, sp: SearchParam, f: Filter, alias: str, table: str) -> Cond:
        if f.values not in (["true"], ["false"]):
            raise BadRequest(f"'{f.raw_name}' takes true or false")
        has = Cond("pid = %s", [sp.pid])
        return no_rows_match(table, has, alias) if f.values == ["true"] else rows_match(table, has, alias)

    # ---- parameters on the resource row -------------------------------------------------------

    def _id(self, f: Filter, alias: str) -> Cond:
        if f.modifier not in (None, "not", "missing"):
            raise BadRequest(f"'{f.raw_name}': _id supports no modifier :{f.modifier}")
        if f.modifier == "missing":
            if f.values not in (["true"], ["false"]):
                raise BadRequest(f"'{f.raw_name}' takes true or false")
            return Cond("false") if f.values == ["true"] else Cond("true")
        op = "<> ALL" if f.modifier == "not" else "= ANY"
        return Cond(f"{alias}.id {op}(%s)", [[unescape(v) for v in f.values]])

    def _last_updated(self, f: Filter, alias: str) -> Cond:
        """On the row's ``last_updated``: an instant at millisecond precision, i.e. the range [t, t + 1 ms)."""
        if f.modifier == "missing":
            if f.values not in (["true"], ["false"]):
                raise BadRequest(f"'{f.raw_name}' takes true or false")
            return Cond("false") if f.values == ["true"] else Cond("true")
        if f.modifier is not None:
            raise BadRequest(f"'{f.raw_name}': _lastUpdated takes no modifier")
        options = []
        for v in f.values:
            prefix, text = split_prefix(v)
            sl, sh = date.search_range(text, "_lastUpdated")
            options.append(date.instant_condition(prefix, sl, sh, f"{alias}.last_updated"))
        return any_of(options)

    def _list(self, f: Filter, alias: str) -> Cond:
        """``_list=42``: the resource is an item of List/42 (search.html#list)."""
        if f.modifier is not None:
            raise BadRequest(f"'{f.raw_name}': _list takes no modifier")
        item = self.registry.get("List", "item")  # List.entry.item, in idx_reference (the JSON may be sealed)
        if item is None:
            raise BadRequest(f"'{f.raw_name}': this server has no List item parameter")
        return Cond(
            f"{alias}.rid IN (SELECT li.rid FROM resource l JOIN idx_reference e ON e.rid = l.rid "
            f"AND e.pid = {int(item.pid)} JOIN resource li ON li.res_type = e.target_type AND li.id = e.target_id "
            "WHERE l.res_type = 'List' AND NOT l.deleted AND l.id = ANY(%s))",
            [[unescape(v) for v in f.values]],
        )

    # ---- chains and reverse chains --------------------------------------------------------------

    def _chain(self, res_type: str, sp: SearchParam, f: Filter, alias: str, depth: int) -> Cond:
        if depth >= MAX_CHAIN:
            raise BadRequest(f"'{f.raw_name}': chains may be at most {MAX_CHAIN} links long")
        assert f.chain is not None
        if f.modifier and f.modifier not in definitions.resource_types():
            raise BadRequest(f"'{f.raw_name}': :{f.modifier} is not a resource type to chain through")
        if f.modifier and sp.targets and f.modifier not in sp.targets:
            raise BadRequest(f"'{f.raw_name}': {f.modifier} is not a target of {res_type}.{sp.code}")
        types = [f.modifier] if f.modifier else [t for t in sp.targets if t in definitions.resource_types()]
        inner = parse_filter(f.chain, ",".join(f.values))
        options = []
        for t in types:
            if inner.code not in ("_id", "_lastUpdated", "_has", "_list") and self.registry.get(t, inner.code) is None:
                continue
            sub = f"c{next(self._aliases)}"
            cond = self.filter(t, inner, sub, depth + 1)
            options.append(Cond(
                f"target_type = %s AND target_id IN (SELECT {sub}.id FROM resource {sub} "
                f"WHERE {sub}.res_type = %s AND NOT {sub}.deleted AND ({cond.sql}))",
                [t, t, *cond.args],
            ))
        if not options:
            raise Unknown(f"'{inner.code}' is not a search parameter of {' or '.join(types) or 'the targets'}")
        rows = any_of(options)
        return rows_match("idx_reference", Cond(f"pid = %s AND ({rows.sql})", [sp.pid, *rows.args]), alias)

    def _has(self, res_type: str, f: Filter, alias: str, depth: int) -> Cond:
        """``_has:Observation:patient:code=1234``: some Observation whose ``patient`` is this resource matches."""
        if depth >= MAX_CHAIN:
            raise BadRequest(f"'{f.raw_name}': _has may nest at most {MAX_CHAIN} levels")
        parts = f.raw_name.split(":", 3)
        if len(parts) < 4 or not parts[1] or not parts[2] or not parts[3]:
            raise BadRequest(f"'{f.raw_name}' must be _has:[type]:[reference parameter]:[parameter]")
        _, other, ref_code, rest = parts
        if other not in definitions.resource_types():
            raise BadRequest(f"'{f.raw_name}': {other} is not a resource type")
        ref = self.registry.get(other, ref_code)
        if ref is None or ref.type != "reference":
            raise Unknown(f"'{ref_code}' is not a reference parameter of {other}")
        if ref.targets and res_type not in ref.targets:
            raise BadRequest(f"'{f.raw_name}': {other}.{ref_code} does not refer to {res_type}")
        inner = parse_filter(rest, f.values[0])
        sub = f"h{next(self._aliases)}"
        cond = self.filter(other, inner, sub, depth + 1)
        return Cond(
            f"{alias}.id IN (SELECT target_id FROM idx_reference WHERE pid = %s AND target_type = %s "
            f"AND rid IN (SELECT {sub}.rid FROM resource {sub} WHERE {sub}.res_type = %s AND NOT {sub}.deleted "
            f"AND ({cond.sql})))",
            [ref.pid, res_type, other, *cond.args],
        )
