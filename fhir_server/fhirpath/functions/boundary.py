"""FHIRPath 2.x precision functions (http://hl7.org/fhirpath/#lowboundary): lowBoundary(),
highBoundary(), precision() on decimals, quantities, dates and times; comparable() on quantities;
and the current-time functions now(), today(), timeOfDay() (N1 §Utility functions).

Precision counts digits: decimal places for numbers; 4/6/8/10/12/14/17 for year..millisecond of a
date/time and 2/4/6/9 for a time. A date/time boundary without a timezone takes the extreme one
(+14:00 low, -12:00 high).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.functions import BOOL, INTEGER, one, simple
from fhir_server.fhirpath.items import Item, boolean, kind_of, system_item, system_value
from fhir_server.fhirpath.temporal import now_datetime
from fhir_server.fhirpath.ucum import comparable
from fhir_server.fhirpath.values import DateTime, Quantity, Time, days_in_month

MAX_DECIMAL_PRECISION = 28
_DT_DIGITS = (4, 6, 8, 10, 12, 14, 17)
_TIME_DIGITS = (2, 4, 6, 9)


def _scale(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def decimal_boundary(v: Decimal, precision: int | None, high: bool) -> Decimal | None:
    p = 8 if precision is None else precision
    if p < 0 or p > MAX_DECIMAL_PRECISION:
        return None
    if v < 0:
        r = decimal_boundary(-v, p, not high)
        return None if r is None else -r
    half = Decimal(5).scaleb(-(_scale(v) + 1))
    q = Decimal(1).scaleb(-p)
    if high:
        return (v + half).quantize(q, rounding=ROUND_HALF_UP)
    return (v - half).quantize(q, rounding=ROUND_DOWN)


def _date_parts(v: DateTime, high: bool) -> list[int]:
    month = v.month if v.month is not None else (12 if high else 1)
    day = v.day if v.day is not None else (days_in_month(v.year, month) if high else 1)
    minute_default = 59 if high and v.hour is None else 0
    return [
        v.year, month, day,
        v.hour if v.hour is not None else (23 if high else 0),
        v.minute if v.minute is not None else minute_default,
        v.second if v.second is not None else (59 if high else 0),
    ]


def datetime_boundary(v: DateTime, precision: int | None, high: bool) -> DateTime | None:
    digits = (4, 6, 8) if v.date_only else _DT_DIGITS
    p = digits[-1] if precision is None else precision
    if p not in digits:
        return None
    n = digits.index(p) + 1
    parts = _date_parts(v, high)
    frac = (v.frac + "000")[:3] if v.frac else ("999" if high else "000")
    if v.second is None and v.frac == "":
        frac = "999" if high else "000"
    vals: list[int | None] = [parts[i] if i < n else None for i in range(6)]
    tz = v.tz
    if n > 3 and tz is None:
        tz = -720 if high else 840
    return DateTime(
        vals[0] or v.year, vals[1], vals[2], vals[3], vals[4], vals[5], frac if n == 7 else "",
        tz if n > 3 else None, v.date_only,
    )


def time_boundary(v: Time, precision: int | None, high: bool) -> Time | None:
    p = 9 if precision is None else precision
    if p not in _TIME_DIGITS:
        return None
    n = _TIME_DIGITS.index(p) + 1
    fill = 59 if high else 0
    parts = [v.hour, v.minute if v.minute is not None else fill, v.second if v.second is not None else fill]
    frac = (v.frac + "000")[:3] if v.frac else ("999" if high else "000")
    return Time(parts[0], parts[1] if n > 1 else None, parts[2] if n > 2 else None, frac if n > 3 else "")


def boundary(it: Item, precision: int | None, high: bool) -> Any:
    k, v = kind_of(it), system_value(it)
    if v is None:
        return None
    if k in ("int", "dec"):
        return decimal_boundary(Decimal(v), precision, high)
    if k == "qty":
        d = decimal_boundary(v.value, precision, high)
        return None if d is None else Quantity(d, v.unit)
    if k in ("date", "dt") and isinstance(v, DateTime):
        return datetime_boundary(v, precision, high)
    if k == "time" and isinstance(v, Time):
        return time_boundary(v, precision, high)
    return None


def _boundary_fn(name: str, high: bool) -> None:
    @simple(name, 0, 1)
    def run(ctx: Ctx, items: list[Item], precision: list[Item] | None = None) -> list[Item]:
        it = one(items, name + "()")
        if it is None:
            return []
        p = None
        if precision is not None:
            pi = one(precision, name + "() precision")
            if pi is None:
                return []
            p = int(pi.value)
        r = boundary(it, p, high)
        if r is None:
            return []
        return [Item(r, "System.Quantity")] if isinstance(r, Quantity) else [system_item(r)]


_boundary_fn("lowBoundary", False)
_boundary_fn("highBoundary", True)


@simple("precision", out=INTEGER)
def _precision(ctx: Ctx, items: list[Item]) -> list[Item]:
    it = one(items, "precision()")
    if it is None:
        return []
    k, v = kind_of(it), system_value(it)
    if k in ("int", "dec"):
        return [Item(_scale(Decimal(v)), "System.Integer")]
    if isinstance(v, DateTime):
        n = v.precision + (1 if v.frac else 0)
        return [Item(_DT_DIGITS[n - 1], "System.Integer")]
    if isinstance(v, Time):
        n = v.precision + (1 if v.frac else 0)
        return [Item(_TIME_DIGITS[n - 1], "System.Integer")]
    return []


@simple("comparable", 1, out=BOOL)
def _comparable(ctx: Ctx, items: list[Item], other: list[Item]) -> list[Item]:
    a, b = one(items, "comparable()"), one(other, "comparable() argument")
    if a is None or b is None:
        return []
    va, vb = system_value(a), system_value(b)
    if not isinstance(va, Quantity) or not isinstance(vb, Quantity):
        return boolean(False)
    return boolean(comparable(va.unit, vb.unit))


@simple("now")
def _now(ctx: Ctx, items: list[Item]) -> list[Item]:
    return [Item(now_datetime(ctx.now()), "System.DateTime")]


@simple("today")
def _today(ctx: Ctx, items: list[Item]) -> list[Item]:
    n = ctx.now()
    return [Item(DateTime(n.year, n.month, n.day, date_only=True), "System.Date")]


@simple("timeOfDay")
def _time_of_day(ctx: Ctx, items: list[Item]) -> list[Item]:
    n = ctx.now()
    return [Item(Time(n.hour, n.minute, n.second, f"{n.microsecond // 1000:03d}"), "System.Time")]
