"""FHIRPath date/time comparison and arithmetic (http://hl7.org/fhirpath/N1/#datetime-arithmetic).

Values of different precision compare up to the common precision; if equal there, the result is
empty (unknown). Timezones are normalised to UTC when both sides carry one. Adding a calendar
duration keeps the precision of the date; decimal durations are truncated to whole units.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.values import DateTime, Quantity, Time, days_in_month

_DURATION = {
    "year": "year", "years": "year", "month": "month", "months": "month", "week": "week",
    "weeks": "week", "day": "day", "days": "day", "hour": "hour", "hours": "hour",
    "minute": "minute", "minutes": "minute", "second": "second", "seconds": "second",
    "millisecond": "millisecond", "milliseconds": "millisecond",
    "wk": "week", "d": "day", "h": "hour", "min": "minute", "s": "second", "ms": "millisecond",
}


def _seconds(second: int | None, frac: str) -> Decimal | None:
    if second is None:
        return None
    return Decimal(f"{second}.{frac}") if frac else Decimal(second)


def _to_utc(v: DateTime) -> DateTime:
    if v.tz is None or v.hour is None or v.tz == 0:
        return v
    assert v.month is not None and v.day is not None
    base = datetime(v.year, v.month, v.day, v.hour, v.minute or 0) - timedelta(minutes=v.tz)
    return DateTime(
        base.year, base.month, base.day, base.hour, base.minute if v.minute is not None else None,
        v.second, v.frac, 0, v.date_only,
    )


def _compare_parts(pa: tuple[int | None, ...], pb: tuple[int | None, ...], sa: Decimal | None,
                   sb: Decimal | None) -> int | None:
    last = len(pa) - 1
    for i in range(len(pa)):
        x: int | Decimal | None = sa if i == last else pa[i]
        y: int | Decimal | None = sb if i == last else pb[i]
        if x is None or y is None:
            return 0 if x is None and y is None else None
        if x != y:
            return -1 if x < y else 1
    return 0


def compare_datetime(a: DateTime, b: DateTime) -> int | None:
    """-1/0/1, or None when the precisions differ and the common part is equal (or timezones clash)."""
    if a.hour is not None and b.hour is not None:
        if (a.tz is None) != (b.tz is None):
            return None
        a, b = _to_utc(a), _to_utc(b)
    return _compare_parts(a.parts, b.parts, _seconds(a.second, a.frac), _seconds(b.second, b.frac))


def compare_time(a: Time, b: Time) -> int | None:
    return _compare_parts(a.parts, b.parts, _seconds(a.second, a.frac), _seconds(b.second, b.frac))


def duration_unit(q: Quantity) -> str:
    """The calendar unit a quantity adds to a date/time; raises for non-time units and 'a'/'mo'."""
    unit = _DURATION.get(q.unit)
    if unit is None:
        raise FHIRPathExecutionError(f"cannot add/subtract {q.unit!r} to a date/time")
    return unit


def add_datetime(v: DateTime, q: Quantity, sign: int) -> DateTime | None:
    """``v + q`` (sign 1) or ``v - q`` (sign -1) for a calendar duration ``q``; None (empty) when the
    result is outside the years 1..9999 FHIRPath dates have (an overflow, N1 §6.6 Math)."""
    unit = duration_unit(q)
    if not q.value.is_finite() or abs(q.value) >= _MAX_AMOUNT:
        return None
    try:
        result = _add_datetime(v, unit, int(q.value) * sign)
    except (OverflowError, ValueError):  # beyond what datetime/timedelta hold
        return None
    return result if 1 <= result.year <= 9999 else None


_MAX_AMOUNT = 10**15
"""No calendar duration this large keeps a date within 1..9999 (in milliseconds: ~31,700 years)."""


def _add_datetime(v: DateTime, unit: str, amount: int) -> DateTime:
    if unit in ("year", "month"):
        months = amount * (12 if unit == "year" else 1)
        total = v.year * 12 + (v.month or 1) - 1 + months
        year, month = divmod(total, 12)
        day = None if v.day is None else min(v.day, days_in_month(year, month + 1))
        return _replace(v, year, month + 1 if v.month is not None else None, day)
    seconds = {"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1}.get(unit)
    delta = timedelta(milliseconds=amount) if seconds is None else timedelta(seconds=amount * seconds)
    base = datetime(
        v.year, v.month or 1, v.day or 1, v.hour or 0, v.minute or 0, v.second or 0,
        _micro(v.frac), tzinfo=UTC,
    ) + delta
    frac = v.frac
    if unit == "millisecond":
        frac = f"{base.microsecond // 1000:03d}" if len(frac) <= 3 else f"{base.microsecond:06d}"
    elif frac:
        frac = f"{base.microsecond:06d}"[: len(frac)]
    return DateTime(
        base.year, base.month if v.month is not None else None, base.day if v.day is not None else None,
        base.hour if v.hour is not None else None, base.minute if v.minute is not None else None,
        base.second if v.second is not None else None, frac if v.second is not None else "",
        v.tz, v.date_only,
    )


def _replace(v: DateTime, year: int, month: int | None, day: int | None) -> DateTime:
    return DateTime(year, month, day, v.hour, v.minute, v.second, v.frac, v.tz, v.date_only)


def _micro(frac: str) -> int:
    return int((frac + "000000")[:6]) if frac else 0


def add_time(v: Time, q: Quantity, sign: int) -> Time | None:
    """``v ± q`` for a time of day (wraps around midnight); None (empty) for an absurd amount."""
    unit = duration_unit(q)
    if unit in ("year", "month", "week", "day"):
        return v
    if not q.value.is_finite() or abs(q.value) >= _MAX_AMOUNT:
        return None
    amount = int(q.value) * sign
    factor = {"hour": 3600000, "minute": 60000, "second": 1000, "millisecond": 1}[unit]
    ms = ((v.hour * 60 + (v.minute or 0)) * 60 + (v.second or 0)) * 1000 + _micro(v.frac) // 1000
    ms = (ms + amount * factor) % 86400000
    secs, milli = divmod(ms, 1000)
    h, rest = divmod(secs, 3600)
    mi, s = divmod(rest, 60)
    frac = f"{milli:03d}" if v.frac else ""
    return Time(h, mi if v.minute is not None else None, s if v.second is not None else None, frac)


def now_datetime(now: datetime) -> DateTime:
    offset = now.utcoffset()
    tz = int(offset.total_seconds() // 60) if offset is not None else None
    return DateTime(
        now.year, now.month, now.day, now.hour, now.minute, now.second, f"{now.microsecond // 1000:03d}", tz,
    )
