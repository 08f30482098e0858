"""FHIRPath math operators (http://hl7.org/fhirpath/N1/#math): + - * / div mod on numbers,
strings, quantities and dates (date/time + calendar duration, N1 §Date/Time Arithmetic).

Operands are single items; the result is an Item, or None for an empty result (division by zero).
Operands of types the operator does not accept raise an execution error.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation

from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import Item, kind_of, system_item, system_value
from fhir_server.fhirpath.temporal import add_datetime, add_time
from fhir_server.fhirpath.ucum import convert, multiply_units
from fhir_server.fhirpath.values import DateTime, Quantity, Time

_NUM = frozenset({"int", "dec"})


def _num(k: str, v: object) -> Decimal | int:
    return v if k == "int" else Decimal(v)  # type: ignore[arg-type,return-value]


def _fail(op: str, a: Item, b: Item) -> FHIRPathExecutionError:
    return FHIRPathExecutionError(f"cannot apply {op} to {a.type or kind_of(a)} and {b.type or kind_of(b)}")


def negate(it: Item) -> Item:
    k, v = kind_of(it), system_value(it)
    if k in _NUM:
        return system_item(-_num(k, v))
    if k == "qty":
        return Item(Quantity(-v.value, v.unit), "System.Quantity")
    raise FHIRPathExecutionError(f"cannot negate {it.type or k}")


def add(a: Item, b: Item) -> Item | None:
    return _add_sub(a, b, 1)


def subtract(a: Item, b: Item) -> Item | None:
    return _add_sub(a, b, -1)


def _add_sub(a: Item, b: Item, sign: int) -> Item | None:
    ka, va, kb, vb = kind_of(a), system_value(a), kind_of(b), system_value(b)
    if va is None or vb is None:
        return None
    if ka in _NUM and kb in _NUM:
        x, y = _num(ka, va), _num(kb, vb)
        return system_item(x + y if sign > 0 else x - y)
    if ka == "str" and kb == "str" and sign > 0:
        return Item(va + vb, "System.String")
    if ka in ("date", "dt") and kb == "qty" and isinstance(va, DateTime):
        return system_item(add_datetime(va, vb, sign))
    if ka == "time" and kb == "qty" and isinstance(va, Time):
        return system_item(add_time(va, vb, sign))
    if ka == "qty" and kb == "qty":
        other = convert(vb.value, vb.unit, va.unit)
        if other is None:
            return None
        return Item(Quantity(va.value + sign * other, va.unit), "System.Quantity")
    raise _fail("+" if sign > 0 else "-", a, b)


def multiply(a: Item, b: Item) -> Item | None:
    ka, va, kb, vb = kind_of(a), system_value(a), kind_of(b), system_value(b)
    if ka in _NUM and kb in _NUM:
        return system_item(_num(ka, va) * _num(kb, vb))
    if ka == "qty" and kb == "qty":
        return Item(Quantity(va.value * vb.value, multiply_units(va.unit, vb.unit, ".")), "System.Quantity")
    if ka == "qty" and kb in _NUM:
        return Item(Quantity(va.value * Decimal(vb), va.unit), "System.Quantity")
    if ka in _NUM and kb == "qty":
        return Item(Quantity(Decimal(va) * vb.value, vb.unit), "System.Quantity")
    raise _fail("*", a, b)


def divide(a: Item, b: Item) -> Item | None:
    ka, va, kb, vb = kind_of(a), system_value(a), kind_of(b), system_value(b)
    try:
        if ka in _NUM and kb in _NUM:
            return Item(_normalize(Decimal(va) / Decimal(vb)), "System.Decimal")
        if ka == "qty" and kb == "qty":
            unit = multiply_units(va.unit, vb.unit, "/")
            if va.unit == vb.unit:
                unit = "1"
            return Item(Quantity(va.value / vb.value, unit), "System.Quantity")
        if ka == "qty" and kb in _NUM:
            return Item(Quantity(va.value / Decimal(vb), va.unit), "System.Quantity")
    except (ZeroDivisionError, DivisionByZero, InvalidOperation):
        return None
    raise _fail("/", a, b)


def _normalize(d: Decimal) -> Decimal:
    """Drop the noise trailing zeros of an exact quotient (3.0 / 1 stays 3, 1 / 3 keeps 28 digits)."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize() if len(d.as_tuple().digits) < 28 else d


def int_divide(a: Item, b: Item) -> Item | None:
    ka, va, kb, vb = kind_of(a), system_value(a), kind_of(b), system_value(b)
    if ka not in _NUM or kb not in _NUM:
        raise _fail("div", a, b)
    x, y = _num(ka, va), _num(kb, vb)
    if y == 0:
        return None
    q = Decimal(x) / Decimal(y)
    return Item(int(q), "System.Integer")


def modulo(a: Item, b: Item) -> Item | None:
    ka, va, kb, vb = kind_of(a), system_value(a), kind_of(b), system_value(b)
    if ka not in _NUM or kb not in _NUM:
        raise _fail("mod", a, b)
    x, y = _num(ka, va), _num(kb, vb)
    if y == 0:
        return None
    if isinstance(x, int) and isinstance(y, int):
        r = abs(x) % abs(y)
        return Item(r if x >= 0 else -r, "System.Integer")
    return Item(Decimal(x) % Decimal(y), "System.Decimal")


BINARY: dict[str, Callable[[Item, Item], Item | None]] = {
    "+": add, "-": subtract, "*": multiply, "/": divide, "div": int_divide, "mod": modulo, "&": add,
}
