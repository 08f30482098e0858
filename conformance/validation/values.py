"""fixed[x], pattern[x], maxLength, minValue[x]/maxValue[x] (http://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.fixed_x_).

fixed: the value must be exactly the fixed value (for complex values: the same elements, no others).
pattern: every element the pattern has must be in the value with that value; the value may have more,
and a repeating element matches when each pattern item matches some value item. Numbers compare by
value (``1.0`` = ``1``); quantities in limits compare in UCUM canonical units when the units differ;
a date limited by a Duration is limited relative to today (min: at most that long ago).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from conformance.validation.context import Ctx
from conformance.validation.profile import Node
from fhir_server.fhirpath import ucum
from fhir_server.validation.issues import Loc

Json = dict[str, Any]


def _num(v: Any) -> Decimal | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float | Decimal):
        try:
            return Decimal(str(v))
        except InvalidOperation:
            return None
    return None


def same(a: Any, b: Any) -> bool:
    """fixed[x] equality."""
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return all(k in a and k in b and same(a[k], b[k]) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def matches(value: Any, pattern: Any) -> bool:
    """pattern[x] matching: ``value`` has everything ``pattern`` has."""
    nv, np = _num(value), _num(pattern)
    if nv is not None and np is not None:
        return nv == np
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(value[k], p) for k, p in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches(v, p) for v in items) for p in pattern)
    return bool(value == pattern)


def _extra_keys(value: Any, fixed: Any, loc: Loc, ctx: Ctx) -> bool:
    if isinstance(value, dict) and isinstance(fixed, dict):
        extra = [k for k in value if k not in fixed and k not in ("id", "extension")]
        for k in extra:
            ctx.error(
                "value",
                f"The element {k} is present in the instance but not allowed in the "
                "applicable fixed value specified in profile",
                (loc, k, -1),
            )
        return bool(extra)
    return False


def check(ctx: Ctx, value: Any, type_code: str, node: Node, loc: Loc) -> None:
    mismatch = node.has_fixed and not same(value, node.fixed)
    if mismatch and (not _extra_keys(value, node.fixed, loc, ctx) or not matches(value, node.fixed)):
        ctx.error("value", f"Value is {_show(value)} but is fixed to {_show(node.fixed)} in the profile", loc)
    if node.has_pattern and not matches(value, node.pattern):
        ctx.error("value", f"The value {_show(value)} does not match the pattern {_show(node.pattern)}", loc)
    if node.max_length is not None and isinstance(value, str) and len(value) > node.max_length:
        ctx.error("value", f"The value is {len(value)} characters long, more than maxLength {node.max_length}", loc)
    if node.min_value is not None:
        _limit(ctx, value, node.min_value[1], loc, "less than the minimum", 1)
    if node.max_value is not None:
        _limit(ctx, value, node.max_value[1], loc, "greater than the maximum", -1)


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 120 else text[:117] + "..."


def _limit(ctx: Ctx, value: Any, limit: Any, loc: Loc, words: str, sign: int) -> None:
    diff = compare(value, limit, sign)
    if diff is not None and diff * sign < 0:
        ctx.error("invalid", f"The value in the instance ({_show(value)}) is {words} value ({_show(limit)})", loc)


def compare(value: Any, limit: Any, sign: int = 1) -> int | None:
    """-1, 0, 1 for value <, =, > limit; None when they can't be compared."""
    if isinstance(value, str) and isinstance(limit, dict):  # a date limited by a Duration from today
        limit = _date_from_now(limit, sign)
        if limit is None:
            return None
    if isinstance(value, dict) and isinstance(limit, dict):
        return _compare_quantity(value, limit)
    nv, nl = _num(value), _num(limit)
    if nv is not None and nl is not None:
        return (nv > nl) - (nv < nl)
    if isinstance(value, str) and isinstance(limit, str):
        n = min(len(value), len(limit), 10)  # dates/times: compare on the common precision
        a, b = value[:n], limit[:n]
        return (a > b) - (a < b)
    return None


_DAYS = {"a": 365.25, "mo": 30.4375, "wk": 7, "d": 1, "h": 1 / 24, "min": 1 / 1440, "s": 1 / 86400}


def _date_from_now(duration: Json, sign: int) -> str | None:
    """minValueDuration: today minus the duration; maxValueDuration: today plus it (ISO date)."""
    amount, unit = _num(duration.get("value")), duration.get("code") or duration.get("unit")
    days = _DAYS.get(unit) if isinstance(unit, str) else None
    if amount is None or days is None:
        return None
    delta = timedelta(days=float(amount) * days)
    today = datetime.now(UTC).date()
    return (today - delta if sign > 0 else today + delta).isoformat()


def _compare_quantity(value: Json, limit: Json) -> int | None:
    v, lim = _num(value.get("value")), _num(limit.get("value"))
    if v is None or lim is None:
        return None
    vu, lu = value.get("code") or value.get("unit"), limit.get("code") or limit.get("unit")
    if vu != lu and isinstance(vu, str) and isinstance(lu, str):
        pv, pl = ucum.parse_unit(vu), ucum.parse_unit(lu)
        if pv is None or pl is None or pv[1] != pl[1]:
            return None
        v, lim = v * pv[0], lim * pl[0]
    return (v > lim) - (v < lim)
