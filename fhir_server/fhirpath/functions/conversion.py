"""FHIRPath conversion functions (http://hl7.org/fhirpath/N1/#conversion): toX() and convertsToX()."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.functions import BOOL, one, simple
from fhir_server.fhirpath.items import INT_MAX, INT_MIN, Item, boolean, kind_of, system_item, system_value
from fhir_server.fhirpath.ucum import convert
from fhir_server.fhirpath.values import (
    CALENDAR_UNITS,
    DateTime,
    Quantity,
    Time,
    format_decimal,
    parse_datetime,
    parse_time,
)

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_INT = re.compile(r"[+-]?\d+$")
_DEC = re.compile(r"[+-]?\d+(?:\.\d+)?$")
_QTY = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?$")

Converter = Callable[[str, Any], Any]


def to_boolean(k: str, v: Any) -> Any:
    if k == "bool":
        return v
    if k in ("int", "dec"):
        return {Decimal(1): True, Decimal(0): False}.get(Decimal(v))
    if k == "str":
        low = v.lower()
        return True if low in _TRUE else (False if low in _FALSE else None)
    return None


def to_integer(k: str, v: Any) -> Any:
    if k == "int":
        return v
    if k == "bool":
        return 1 if v else 0
    if k == "str" and _INT.match(v):
        digits = v.lstrip("+-").lstrip("0")
        if len(digits) > 10:  # beyond a 32-bit Integer (and Python's int-from-string digit limit)
            return None
        n = int(v)
        return n if INT_MIN <= n <= INT_MAX else None
    return None


def to_decimal(k: str, v: Any) -> Any:
    if k in ("int", "dec"):
        return Decimal(v)
    if k == "bool":
        return Decimal("1.0") if v else Decimal("0.0")
    if k == "str" and _DEC.match(v):
        return Decimal(v)
    return None


def to_string(k: str, v: Any) -> Any:
    if k == "bool":
        return "true" if v else "false"
    if k == "dec":
        return format_decimal(Decimal(v))
    if k == "obj":
        return None
    return str(v)


def to_date(k: str, v: Any) -> Any:
    if k == "str":
        d = parse_datetime(v)
        v = d
        k = "dt" if d is not None else ""
    if k in ("date", "dt") and isinstance(v, DateTime):
        return DateTime(v.year, v.month, v.day, date_only=True)
    return None


def to_datetime(k: str, v: Any) -> Any:
    if k == "str":
        return parse_datetime(v)
    if k in ("date", "dt") and isinstance(v, DateTime):
        return DateTime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.frac, v.tz)
    return None


def to_time(k: str, v: Any) -> Any:
    if k == "str":
        return parse_time(v)
    return v if k == "time" and isinstance(v, Time) else None


def to_quantity(k: str, v: Any) -> Any:
    if k in ("int", "dec"):
        return Quantity(Decimal(v), "1")
    if k == "qty":
        return v
    if k == "bool":
        return Quantity(Decimal("1.0") if v else Decimal("0.0"), "1")
    if k == "str":
        m = _QTY.match(v.strip())
        if not m:
            return None
        unit = m.group(2) or m.group(3) or "1"
        if m.group(3) and m.group(3) not in CALENDAR_UNITS:
            return None
        return Quantity(Decimal(m.group(1)), unit)
    return None


def _apply(items: list[Item], conv: Converter, name: str) -> Any:
    it = one(items, name)
    if it is None:
        return None
    v = system_value(it)
    if v is None:
        return None
    return conv(kind_of(it), v)


def _register(name: str, conv: Converter) -> None:
    @simple("to" + name)
    def to_fn(ctx: Ctx, items: list[Item]) -> list[Item]:
        r = _apply(items, conv, "to" + name)
        return [] if r is None else [system_item(r)]

    @simple("convertsTo" + name, out=BOOL)
    def converts_fn(ctx: Ctx, items: list[Item]) -> list[Item]:
        if not items:
            return []
        return boolean(_apply(items, conv, "convertsTo" + name) is not None)


for _name, _conv in (
    ("Boolean", to_boolean), ("Integer", to_integer), ("Decimal", to_decimal), ("String", to_string),
    ("Date", to_date), ("DateTime", to_datetime), ("Time", to_time),
):
    _register(_name, _conv)


def _quantity_with_unit(items: list[Item], unit_arg: list[Item] | None, name: str) -> Quantity | None:
    q = _apply(items, to_quantity, name)
    if q is None or not unit_arg:
        return q  # type: ignore[no-any-return]
    unit = str(unit_arg[0].value)
    value = convert(q.value, q.unit, unit)
    return None if value is None else Quantity(value, unit)


@simple("toQuantity", 0, 1)
def _to_quantity(ctx: Ctx, items: list[Item], unit: list[Item] | None = None) -> list[Item]:
    q = _quantity_with_unit(items, unit, "toQuantity")
    return [] if q is None else [Item(q, "System.Quantity")]


@simple("convertsToQuantity", 0, 1, out=BOOL)
def _converts_to_quantity(ctx: Ctx, items: list[Item], unit: list[Item] | None = None) -> list[Item]:
    if not items:
        return []
    return boolean(_quantity_with_unit(items, unit, "convertsToQuantity") is not None)

