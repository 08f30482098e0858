"""composite parameters (http://hl7.org/fhir/R4/search.html#composite): ``code-value-quantity=loinc|8480-6$gt100``.

Both components come from the same element (the same Observation, or the same
``Observation.component``), so they are indexed together: one row per (first component, second
component) pair of each node the parameter's expression selects. The first component is a token;
the second may be a token, quantity, date, string, number or reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import UCUM, canonical, fold, like_escape
from fhir_server.search.sql import Cond, any_of
from fhir_server.search.types import date, number, quantity, reference, string, token
from fhir_server.search.types.prefix import parse_number, split_prefix

TABLE = "idx_composite"
COLUMNS = ("pid", "c1_system", "c1_code", "c2_system", "c2_code", "c2_text", "c2_lo", "c2_hi",
           "c2_canon_code", "c2_canon_lo", "c2_canon_hi", "c2_dlo", "c2_dhi")
MODIFIERS = ("missing",)

Row = tuple[Any, ...]
Evaluate = Callable[[int, TypedValue], list[TypedValue]]  # component index, node → values
_EMPTY = (None,) * 10


def second_parts(kind: str, items: list[TypedValue]) -> Iterator[tuple[Any, ...]]:
    """The 10 ``c2_*`` columns for the values of the second component."""
    for item in items:
        if kind == "token":
            for r in token.rows(item, 0, None):
                yield (r[1], r[2], *(None,) * 8)
        elif kind == "quantity":
            for _, system, code, _unit, lo, hi, canon, canon_lo, canon_hi in quantity.extract([item], 0):
                yield (system, code, None, lo, hi, canon, canon_lo, canon_hi, None, None)
        elif kind == "date":
            for _, lo, hi in date.extract([item], 0):
                yield (*(None,) * 8, lo, hi)
        elif kind == "string":
            for text in string.values(item):
                yield (None, None, fold(text), *(None,) * 7)
        elif kind == "number":
            for _, v in number.extract([item], 0):
                yield (None, None, None, v, v, *(None,) * 5)
        elif kind == "reference":
            for r in reference.rows(item, 0, None):
                yield (r[1], r[2], r[3], *(None,) * 7)


def extract(nodes: list[TypedValue], pid: int, kinds: tuple[str, ...], evaluate: Evaluate) -> Iterator[Row]:
    seen: set[Row] = set()
    for node in nodes:
        firsts = [r for item in evaluate(0, node) for r in token.rows(item, 0, None) if r[4] == 0]
        seconds = list(second_parts(kinds[1], evaluate(1, node))) if len(kinds) > 1 else [_EMPTY]
        for f in firsts:
            for sec in seconds:
                row = (pid, f[1], f[2], *sec)
                if row not in seen:
                    seen.add(row)
                    yield row


def _first(value: str) -> Cond:
    system, bar, code = value.partition("|")
    if not bar:
        return Cond("c1_code = %s", [value])
    if system and code:
        return Cond("c1_code = %s AND c1_system = %s", [code, system])
    if code:
        return Cond("c1_code = %s AND c1_system IS NULL", [code])
    return Cond("c1_system = %s", [system])


def _second(kind: str, value: str, name: str) -> Cond:
    if kind == "token":
        system, bar, code = value.partition("|")
        if not bar:
            return Cond("c2_code = %s", [value])
        if system and code:
            return Cond("c2_code = %s AND c2_system = %s", [code, system])
        return Cond("c2_code = %s", [code]) if code else Cond("c2_system = %s", [system])
    if kind == "string":
        return Cond("c2_text LIKE %s", [like_escape(fold(value)) + "%"])
    if kind == "date":
        prefix, text = split_prefix(value)
        sl, sh = date.search_range(text, name)
        return date.condition(prefix, sl, sh, "c2_dlo", "c2_dhi")
    if kind in ("quantity", "number"):
        return _quantity(value, name)
    if kind == "reference":
        return Cond("c2_code = %s", [value.rsplit("/", 1)[-1]])
    raise BadRequest(f"{name}: composite component of type {kind} is not supported")


def _quantity(raw: str, name: str) -> Cond:
    prefix, rest = split_prefix(raw)
    num, _, unit_part = rest.partition("|")
    system, _, code = unit_part.partition("|")
    value, low, high = parse_number(num, name)
    canon = canonical(value, UCUM, code) if code and system in ("", UCUM) else None
    if canon is not None:
        c_low, c_high = canonical(low, UCUM, code), canonical(high, UCUM, code)
        assert c_low and c_high
        cond = quantity._value_cond(prefix, canon[1], c_low[1], c_high[1], "c2_canon_lo", "c2_canon_hi")
        return Cond(f"c2_canon_code = %s AND ({cond.sql})", [canon[0], *cond.args])
    cond = quantity._value_cond(prefix, value, low, high, "c2_lo", "c2_hi")
    if code:
        extra = "c2_code = %s" + (" AND c2_system = %s" if system else "")
        return Cond(f"{extra} AND ({cond.sql})", [code, *([system] if system else []), *cond.args])
    return cond


def compile(pid: int, values: list[str], kinds: tuple[str, ...], name: str) -> Cond:
    options = []
    for value in values:
        parts = value.split("$")
        if len(parts) != len(kinds):
            raise BadRequest(f"{name} takes {len(kinds)} values joined by '$', not '{value}'")
        cond = _first(parts[0])
        if len(kinds) > 1:
            cond = cond & _second(kinds[1], parts[1], name)
        options.append(cond)
    cond = any_of(options)
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
