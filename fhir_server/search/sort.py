"""``_sort`` (http://hl7.org/fhir/R4/search.html#sort): keys on any parameter, several, descending, tie-broken by rid.

Ascending order uses the lowest value a resource has for the parameter, descending the highest.
Resources without a value come last either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.search.registry import Registry

# parameter type → (table, column for ascending, column for descending)
SORT_COLUMNS = {
    "date": ("idx_date", "lo", "hi"),
    "string": ("idx_string", "norm", "norm"),
    "token": ("idx_token", "code", "code"),
    "number": ("idx_number", "value", "value"),
    "quantity": ("idx_quantity", "lo", "hi"),
    "uri": ("idx_uri", "uri", "uri"),
    "reference": ("idx_reference", "target_id", "target_id"),
}


@dataclass(slots=True)
class SortKey:
    code: str
    descending: bool
    sql: str  # an expression over the resource row alias r


class UnsortableError(Exception):
    pass


def sort_keys(registry: Registry, res_type: str | None, keys: list[tuple[str, bool]]) -> list[SortKey]:
    out = []
    for code, desc in keys:
        if code == "_id":
            out.append(SortKey(code, desc, "r.id"))
            continue
        if code == "_lastUpdated":
            out.append(SortKey(code, desc, "r.last_updated"))
            continue
        sp = registry.get(res_type, code) if res_type else None
        if sp is None or sp.type not in SORT_COLUMNS:
            raise UnsortableError(code)
        table, asc_col, desc_col = SORT_COLUMNS[sp.type]
        agg = f"max({desc_col})" if desc else f"min({asc_col})"
        out.append(SortKey(code, desc, f"(SELECT {agg} FROM {table} s WHERE s.rid = r.rid AND s.pid = {int(sp.pid)})"))
    return out
