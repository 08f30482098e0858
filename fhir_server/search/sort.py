"""``_sort`` (http://hl7.org/fhir/R4/search.html#sort): keys on any parameter, several, descending, tie-broken by rid.

Ascending order uses the lowest value a resource has for the parameter, descending the highest
(dates sort on where their ranges start, so ``-date`` is the reverse of ``date``). Resources without a value
come last either way. The last key is always the row id, so the order is total and a paging
cursor can say exactly where a page ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.search.registry import Registry

# parameter type → (table, column for ascending, column for descending, cursor value kind)
SORT_COLUMNS = {
    "date": ("idx_date", "lo", "lo", "date"),
    "string": ("idx_string", "norm", "norm", "text"),
    "token": ("idx_token", "code", "code", "text"),
    "number": ("idx_number", "value", "value", "number"),
    "quantity": ("idx_quantity", "lo", "hi", "number"),
    "uri": ("idx_uri", "uri", "uri", "text"),
    "reference": ("idx_reference", "target_id", "target_id", "text"),
}


@dataclass(slots=True)
class SortKey:
    code: str
    descending: bool
    sql: str  # an expression over the resource row alias r
    kind: str = "text"  # what a cursor carries for it: text | date | number | float


class UnsortableError(Exception):
    pass


def sort_key(registry: Registry, res_type: str | None, code: str, desc: bool) -> SortKey:
    if code == "_id":
        return SortKey(code, desc, "r.id", "text")
    if code == "_lastUpdated":
        return SortKey(code, desc, "r.last_updated", "date")
    sp = registry.get(res_type, code) if res_type else None
    if sp is None or sp.type not in SORT_COLUMNS or not sp.supported:
        raise UnsortableError(code)
    table, asc_col, desc_col, kind = SORT_COLUMNS[sp.type]
    agg = f"max({desc_col})" if desc else f"min({asc_col})"
    where = "s.rid = r.rid AND s.pid = " + str(int(sp.pid))
    if sp.type == "token":
        where += " AND s.kind = 0"
    return SortKey(code, desc, f"(SELECT {agg} FROM {table} s WHERE {where})", kind)
