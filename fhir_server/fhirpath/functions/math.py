"""FHIRPath math functions (http://hl7.org/fhirpath/N1/#math-1): abs, ceiling, exp, floor, ln, log,
power, round, sqrt, truncate. Input is a single number (abs also takes a Quantity); results that
are not real numbers (``(-1).sqrt()``) are empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.functions import one, simple
from fhir_server.fhirpath.items import DECIMAL_LIMIT, INT_MAX, INT_MIN, Item, kind_of, system_item, system_value
from fhir_server.fhirpath.values import Quantity


def _number(items: list[Item], name: str) -> tuple[str, Any] | None:
    it = one(items, name + "()")
    if it is None:
        return None
    k, v = kind_of(it), system_value(it)
    if v is None:
        return None
    if k not in ("int", "dec", "qty"):
        raise FHIRPathExecutionError(f"{name}() expects a number, got {it.type}")
    return k, v


def _arg(args: tuple[list[Item], ...]) -> Any:
    if not args:
        return None
    it = one(args[0], "argument")
    return None if it is None else system_value(it)


def _math_fn(name: str, fn: Callable[..., Any], nargs: int = 0, required: bool = False) -> None:
    @simple(name, nargs if required else 0, nargs)
    def run(ctx: Ctx, items: list[Item], *args: list[Item]) -> list[Item]:
        got = _number(items, name)
        if got is None or (args and not args[0]):
            return []
        k, v = got
        if k == "qty" and name != "abs":
            raise FHIRPathExecutionError(f"{name}() expects a number")
        try:
            result = fn(k, v, *([_arg(args)] if args else []))
        except (ArithmeticError, ValueError):  # decimal.Overflow/InvalidOperation, int(Infinity)...
            return []
        if result is None or not _representable(result):
            return []  # not representable: empty (N1 §6.6 Math, overflow)
        return [_item(result)]


def _representable(v: Any) -> bool:
    if type(v) is int:
        return INT_MIN <= v <= INT_MAX
    if isinstance(v, Decimal):
        return v.is_finite() and abs(v) < DECIMAL_LIMIT
    return True


def _item(v: Any) -> Item:
    if isinstance(v, Quantity):
        return Item(v, "System.Quantity")
    return system_item(v)


def _abs(k: str, v: Any) -> Any:
    if k == "qty":
        return Quantity(abs(v.value), v.unit)
    return abs(v)


def _integral(mode: str) -> Callable[[str, Any], Any]:
    def run(k: str, v: Any) -> Any:
        if k == "int":
            return v
        d = Decimal(v).to_integral_value(rounding=mode)
        return int(d) if abs(d) <= INT_MAX + 1 else None  # never build a huge Python int

    return run


def _round(k: str, v: Any, places: Any = None) -> Any:
    p = 0 if places is None else int(places)
    if p < 0:
        raise FHIRPathExecutionError("round() precision must be >= 0")
    if p > 28:
        return None  # beyond the Decimal precision (28 digits)
    return Decimal(v).quantize(Decimal(1).scaleb(-p), rounding=ROUND_HALF_UP)


def _sqrt(k: str, v: Any) -> Any:
    d = Decimal(v)
    return None if d < 0 else d.sqrt()


def _ln(k: str, v: Any) -> Any:
    d = Decimal(v)
    return None if d <= 0 else d.ln()


def _log(k: str, v: Any, base: Any) -> Any:
    d, b = Decimal(v), Decimal(base)
    if d <= 0 or b <= 0 or b == 1:
        return None
    return _clean(d.ln() / b.ln())


def _clean(d: Decimal) -> Decimal:
    """Round away binary-like noise at the 28th digit (16.log(2) is 4.0, not 3.9999...)."""
    r = d.quantize(Decimal(1).scaleb(-20), rounding=ROUND_HALF_UP) if abs(d) < 10**7 else d
    return r.normalize() if r == r.to_integral_value() else r


def _power(k: str, v: Any, exp: Any) -> Any:
    if isinstance(v, int) and isinstance(exp, int) and exp >= 0:
        # |v| >= 2 and exp > 31 cannot fit a 32-bit Integer: refuse before computing a huge int
        if abs(v) >= 2 and exp > 31:
            return None
        return v**exp
    base, e = Decimal(v), Decimal(exp)
    if base < 0 and e != e.to_integral_value():
        return None
    result = base**e
    if isinstance(result, Decimal) and math.isnan(float(result)):
        return None
    return result


def _exp(k: str, v: Any) -> Any:
    return Decimal(v).exp()


_math_fn("abs", _abs)
_math_fn("ceiling", _integral(ROUND_CEILING))
_math_fn("floor", _integral(ROUND_FLOOR))
_math_fn("truncate", _integral(ROUND_DOWN))
_math_fn("round", _round, 1)
_math_fn("sqrt", _sqrt)
_math_fn("ln", _ln)
_math_fn("log", _log, 1, required=True)
_math_fn("power", _power, 1, required=True)
_math_fn("exp", _exp)
