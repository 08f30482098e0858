"""FHIRPath equality, equivalence and ordering (http://hl7.org/fhirpath/N1/#equality, #comparison).

Item functions return True/False, or None for "empty" (unknown: e.g. dates of different precision).
Ordering of values that cannot be compared (a string and a number) is an execution error.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import Item, kind_of, system_value
from fhir_server.fhirpath.temporal import compare_datetime, compare_time
from fhir_server.fhirpath.ucum import convert, to_base
from fhir_server.fhirpath.values import DateTime, Quantity, Time

_NUM = frozenset({"int", "dec"})
_DATES = frozenset({"date", "dt"})


def _pair(a: Item, b: Item) -> tuple[str, Any, str, Any]:
    return kind_of(a), system_value(a), kind_of(b), system_value(b)


def item_equal(a: Item, b: Item) -> bool | None:
    """``a = b`` for single items."""
    ka, va, kb, vb = _pair(a, b)
    if va is None or vb is None:
        return None if va is None and vb is None else False
    if ka == kb and ka in ("str", "bool", "int", "obj"):
        return bool(va == vb)
    if ka in _NUM and kb in _NUM:
        return Decimal(va) == Decimal(vb)
    if ka in _DATES and kb in _DATES:
        c = compare_datetime(va, vb)
        return None if c is None else c == 0
    if ka == "time" and kb == "time":
        c = compare_time(va, vb)
        return None if c is None else c == 0
    if ka == "qty" and kb == "qty":
        return quantity_equal(va, vb)
    return False


def quantity_equal(a: Quantity, b: Quantity) -> bool | None:
    if a.unit == b.unit:
        return a.value == b.value
    x, y = to_base(a.value, a.unit), to_base(b.value, b.unit)
    if x is None or y is None or x[1] != y[1]:
        return None
    return x[0] == y[0]


def item_equivalent(a: Item, b: Item) -> bool:
    """``a ~ b`` for single items."""
    ka, va, kb, vb = _pair(a, b)
    if va is None or vb is None:
        return va is None and vb is None
    if ka == "str" and kb == "str":
        return _normalize(va) == _normalize(vb)
    if ka in _NUM and kb in _NUM:
        return decimal_equivalent(Decimal(va), Decimal(vb))
    if ka in _DATES and kb in _DATES:
        return compare_datetime(va, vb) == 0 and va.precision == vb.precision
    if ka == "time" and kb == "time":
        return compare_time(va, vb) == 0 and va.precision == vb.precision
    if ka == "qty" and kb == "qty":
        return quantity_equivalent(va, vb)
    if ka == "obj" and kb == "obj":
        return bool(va == vb)
    return ka == kb and bool(va == vb)


def _normalize(s: str) -> str:
    return " ".join(s.lower().split())


def _scale(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def decimal_equivalent(a: Decimal, b: Decimal) -> bool:
    """Equal when rounded to the precision of the less precise operand."""
    places = min(_scale(a), _scale(b))
    q = Decimal(1).scaleb(-places)
    return a.quantize(q) == b.quantize(q)


def quantity_equivalent(a: Quantity, b: Quantity) -> bool:
    other = convert(b.value, b.unit, a.unit)
    if other is None:
        return False
    return decimal_equivalent(a.value, other)


def compare(a: Item, b: Item) -> int | None:
    """-1/0/1 ordering of two items, None if unknown; raises when the types cannot be ordered."""
    ka, va, kb, vb = _pair(a, b)
    if va is None or vb is None:
        return None
    if ka in _NUM and kb in _NUM:
        return _cmp(Decimal(va), Decimal(vb))
    if ka == "str" and kb == "str":
        return _cmp(va, vb)
    if ka in _DATES and kb in _DATES and isinstance(va, DateTime) and isinstance(vb, DateTime):
        return compare_datetime(va, vb)
    if ka == "time" and kb == "time" and isinstance(va, Time) and isinstance(vb, Time):
        return compare_time(va, vb)
    if ka == "qty" and kb == "qty":
        return _compare_quantity(va, vb)
    raise FHIRPathExecutionError(f"cannot compare {a.type or ka} with {b.type or kb}")


def _cmp(x: Any, y: Any) -> int:
    return -1 if x < y else (1 if x > y else 0)


def _compare_quantity(a: Quantity, b: Quantity) -> int | None:
    if a.unit == b.unit:
        return _cmp(a.value, b.value)
    x, y = to_base(a.value, a.unit), to_base(b.value, b.unit)
    if x is None or y is None or x[1] != y[1]:
        return None
    return _cmp(x[0], y[0])


def collection_equal(left: list[Item], right: list[Item]) -> bool | None:
    """``=`` on collections: empty if either is empty, else item-wise in order."""
    if not left or not right:
        return None
    if len(left) != len(right):
        return False
    result: bool | None = True
    for a, b in zip(left, right, strict=True):
        r = item_equal(a, b)
        if r is False:
            return False
        if r is None:
            result = None
    return result


def collection_equivalent(left: list[Item], right: list[Item]) -> bool:
    """``~`` on collections: same size and every item has an equivalent, in any order."""
    if len(left) != len(right):
        return False
    remaining = list(right)
    for a in left:
        for i, b in enumerate(remaining):
            if item_equivalent(a, b):
                del remaining[i]
                break
        else:
            return False
    return True


def contains_item(items: list[Item], x: Item) -> bool:
    return any(item_equal(x, i) is True for i in items)


def distinct(items: list[Item]) -> list[Item]:
    """Items without duplicates (by ``=``), first occurrence kept."""
    if len(items) < 2:
        return items
    out: list[Item] = []
    seen: set[Any] = set()
    for it in items:
        key = _hash_key(it)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
            out.append(it)
        elif not contains_item(out, it):
            out.append(it)
    return out


def _hash_key(it: Item) -> Any:
    """A hashable key equal for items that are ``=`` (strings, booleans, numbers), else None."""
    v = it.value
    if isinstance(v, str) and kind_of(it) == "str":
        return ("s", v)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, Decimal, float)):
        k = kind_of(it)
        if k in _NUM:
            return ("n", system_value(it))  # int and Decimal hash alike when numerically equal
    return None


def membership(items: list[Item]) -> Callable[[Item], bool]:
    """``lambda x: contains_item(items, x)`` in constant time for the items :func:`_hash_key` keys
    (intersect/exclude/subsetOf over large collections would otherwise be quadratic)."""
    keyed: set[Any] = set()
    rest: list[Item] = []
    for it in items:
        key = _hash_key(it)
        if key is None:
            rest.append(it)
        else:
            keyed.add(key)

    def has(x: Item) -> bool:
        key = _hash_key(x)
        if key is not None and key in keyed:
            return True
        return contains_item(rest, x)

    return has
