"""FHIRPath math operators (http://hl7.org/fhirpath/N1/#math): + - * / div mod on numbers,
strings, quantities and dates (date/time + calendar duration, N1 §Date/Time Arithmetic).

Operands are single items; the result is an Item, or None for an empty result (division by zero).
Operands of types the operator does not accept raise an execution error.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import DECIMAL_LIMIT, INT_MAX, INT_MIN, Item, kind_of, system_item, system_value
from fhir_server.fhirpath.temporal import add_datetime, add_time
from fhir_server.fhirpath.ucum import convert, multiply_units
from fhir_server.fhirpath.values import DateTime, Quantity, Time

_NUM = frozenset({"int", "dec"})


def _num(k: str, v: object) -> Decimal | int:
    return v if k == "int" else Decimal(v)  # type: ignore[arg-type,return-value]


MAX_STRING = 1_000_000
"""The longest string ``+``/``&`` may build, in characters (longer: an execution error)."""


def _number(v: Decimal | int) -> Item | None:
    """The result of a numeric operation, or None (empty) when it overflows (N1 §6.6 Math)."""
    if type(v) is int:
        return Item(v, "System.Integer") if INT_MIN <= v <= INT_MAX else None
    return Item(v, "System.Decimal") if -DECIMAL_LIMIT < v < DECIMAL_LIMIT else None


def _fail(op: str, a: Item, b: Item) -> FHIRPathExecutionError:
    return FHIRPathExecutionError(f"cannot apply {op} to {a.type or kind_of(a)} and {b.type or kind_of(b)}")


def negate(it: Item) -> Item | None:
    k, v = kind_of(it), system_value(it)
    if k in _NUM:
        return _number(-_num(k, v))
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
        try:
            return _number(x + y if sign > 0 else x - y)
        except ArithmeticError:  # decimal.Overflow
            return None
    if ka == "str" and kb == "str" and sign > 0:
        if len(va) + len(vb) > MAX_STRING:
            raise FHIRPathExecutionError(f"the string would be longer than {MAX_STRING} characters")
        return Item(va + vb, "System.String")
    if ka in ("date", "dt") and kb == "qty" and isinstance(va, DateTime):
        moved = add_datetime(va, vb, sign)
        return None if moved is None else system_item(moved)
    if ka == "time" and kb == "qty" and isinstance(va, Time):
        shifted = add_time(va, vb, sign)
        return None if shifted is None else system_item(shifted)
    if ka == "qty" and kb == "qty":
        other = convert(vb.value, vb.unit, va.unit)
        if other is None:
            return None
        return Item(Quantity(va.value + sign * other, va.unit), "System.Quantity")
    raise _fail("+" if sign > 0 else "-", a, b)


def multiply(a: Item, b: Item) -> Item | None:
    ka, va, kb, vb = kind_of(a), system_value(a), kind_of(b), system_value(b)
    if ka in _NUM and kb in _NUM:
        try:
            return _number(_num(ka, va) * _num(kb, vb))
        except ArithmeticError:
            return None
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
            return _number(_normalize(Decimal(va) / Decimal(vb)))
        if ka == "qty" and kb == "qty":
            unit = multiply_units(va.unit, vb.unit, "/")
            if va.unit == vb.unit:
                unit = "1"
            return Item(Quantity(va.value / vb.value, unit), "System.Quantity")
        if ka == "qty" and kb in _NUM:
            return Item(Quantity(va.value / Decimal(vb), va.unit), "System.Quantity")
    except ArithmeticError:  # division by zero, decimal.Overflow/InvalidOperation
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
    try:
        return _number(int(Decimal(x) / Decimal(y)))
    except (ArithmeticError, ValueError, OverflowError):
        return None


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
    try:
        return Item(Decimal(x) % Decimal(y), "System.Decimal")
    except ArithmeticError:  # decimal.InvalidOperation when the quotient has too many digits
        return None


BINARY: dict[str, Callable[[Item, Item], Item | None]] = {
    "+": add, "-": subtract, "*": multiply, "/": divide, "div": int_divide, "mod": modulo, "&": add,
}
