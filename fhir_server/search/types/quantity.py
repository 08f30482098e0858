"""quantity parameters (http://hl7.org/fhir/R4/search.html#quantity): ``[prefix]value[|system|code]``.

Units: with ``system|code`` the match is on that unit; UCUM units are compared in canonical form,
so ``5.4|http://unitsofmeasure.org|mg`` matches a stored 5400 ug (decision: canonical comparison for
every UCUM unit the server understands; other units must be identical). ``value||mg`` matches the
code or the unit text. A Range is indexed as its low..high span.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import UCUM, canonical, decimal, split_escaped, unescape
from fhir_server.search.sql import Cond, any_of
from fhir_server.search.types.prefix import parse_number, split_prefix

TABLE = "idx_quantity"
COLUMNS = ("pid", "system", "code", "unit", "lo", "hi", "canon_code", "canon_lo", "canon_hi")
MODIFIERS = ("missing",)

Row = tuple[Any, ...]


def _row(pid: int, q: dict[str, Any], lo: Decimal | None, hi: Decimal | None) -> Row:
    system, code, unit = q.get("system"), q.get("code") or q.get("currency"), q.get("unit")
    canon_lo = canonical(lo, system, code) if lo is not None else None
    canon_hi = canonical(hi, system, code) if hi is not None else None
    canon_code = (canon_lo or canon_hi or (None, None))[0]
    return (pid, system, code, unit, lo, hi, canon_code,
            canon_lo[1] if canon_lo else None, canon_hi[1] if canon_hi else None)


def extract(items: list[TypedValue], pid: int) -> Iterator[Row]:
    for item in items:
        v = item.value
        if not isinstance(v, dict):
            continue
        if item.type == "Range":
            low, high = v.get("low") or {}, v.get("high") or {}
            lo, hi = decimal(low.get("value")), decimal(high.get("value"))
            if lo is not None or hi is not None:
                yield _row(pid, low or high, lo, hi)
        else:
            value = decimal(v.get("value"))
            if value is not None:
                yield _row(pid, v, value, value)


def _value_cond(prefix: str, value: Decimal, low: Decimal, high: Decimal, lo: str, hi: str) -> Cond:
    """Rows whose [lo, hi] value span stands in relation ``prefix`` to the search value."""
    conds = {
        "eq": (f"{lo} >= %s AND {hi} < %s", [low, high]),
        "ne": (f"NOT ({lo} >= %s AND {hi} < %s)", [low, high]),
        "gt": (f"{hi} > %s", [value]),
        "lt": (f"{lo} < %s", [value]),
        "ge": (f"{hi} >= %s", [value]),
        "le": (f"{lo} <= %s", [value]),
        "sa": (f"{lo} > %s", [value]),
        "eb": (f"{hi} < %s", [value]),
        "ap": (f"{lo} <= %s AND {hi} >= %s", [value + abs(value) / 10, value - abs(value) / 10]),
    }
    return Cond(*conds[prefix])


def parse(raw: str, name: str) -> tuple[str, str, str, str]:
    """(prefix, number, system, code) of ``[prefix]number[|system|code]``."""
    prefix, rest = split_prefix(raw)
    parts = split_escaped(rest, "|")
    if len(parts) == 1:
        return prefix, parts[0], "", ""
    if len(parts) != 3:
        raise BadRequest(f"{name}: '{raw}' must be [prefix]number[|system|code] (two '|' when a unit is given)")
    return prefix, parts[0], unescape(parts[1]), unescape(parts[2])


def match(raw: str, name: str = "quantity", col: str = "") -> Cond:
    """Condition on one quantity index row; ``col`` prefixes the column names (``c2_`` in idx_composite)."""
    prefix, number, system, code = parse(raw, name)
    value, low, high = parse_number(number, name)
    raw_cond = _value_cond(prefix, value, low, high, f"{col}lo", f"{col}hi")
    if not system and not code:
        return raw_cond
    options: list[Cond] = []
    canon = canonical(value, UCUM, code) if code and system in ("", UCUM) else None
    if canon is not None:
        c_low, c_high = canonical(low, UCUM, code), canonical(high, UCUM, code)
        assert c_low and c_high
        cond = _value_cond(prefix, canon[1], c_low[1], c_high[1], f"{col}canon_lo", f"{col}canon_hi")
        options.append(Cond(f"{col}canon_code = %s AND ({cond.sql})", [canon[0], *cond.args]))
    unit = f"{col}text" if col else "unit"
    if system and code:
        options.append(Cond(f"{col}system = %s AND {col}code = %s AND ({raw_cond.sql})",
                            [system, code, *raw_cond.args]))
    elif code:
        options.append(Cond(f"({col}code = %s OR {unit} = %s) AND ({raw_cond.sql})", [code, code, *raw_cond.args]))
    else:
        options.append(Cond(f"{col}system = %s AND ({raw_cond.sql})", [system, *raw_cond.args]))
    return any_of(options)


def compile(pid: int, raw: str, modifier: str | None, name: str = "quantity") -> Cond:
    cond = match(raw, name)
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
