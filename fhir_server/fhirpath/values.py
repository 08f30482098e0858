"""FHIRPath system values (http://hl7.org/fhirpath/N1/#literals): Date, DateTime, Time and Quantity.

Partial dates and times keep their precision (``@2015`` is a year); seconds and fractional seconds
count as one precision (N1 §Date/Time comparison). Quantities carry a Decimal value and a UCUM unit
or a calendar duration keyword (``year``, ``days``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

CALENDAR_UNITS = frozenset(
    {
        "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
        "minute", "minutes", "second", "seconds", "millisecond", "milliseconds",
    }
)
_DATETIME_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TIME_RE = re.compile(r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$")
# FHIR's own formats are stricter than FHIRPath literals: used to type-check conversions
_DATE_RE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?$")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A FHIRPath Quantity: ``value`` and a UCUM code (``'mg'``) or a calendar keyword (``days``)."""

    value: Decimal
    unit: str = "1"

    def __str__(self) -> str:
        if self.unit in CALENDAR_UNITS:
            return f"{format_decimal(self.value)} {self.unit}"
        return f"{format_decimal(self.value)} '{self.unit}'"


@dataclass(frozen=True, slots=True)
class DateTime:
    """A FHIRPath Date (``date_only``) or DateTime, at any precision from year to fractional seconds."""

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    frac: str = ""  # fractional second digits as written
    tz: int | None = None  # offset from UTC in minutes; None = no timezone given
    date_only: bool = False

    @property
    def system_type(self) -> str:
        return "System.Date" if self.date_only else "System.DateTime"

    @property
    def parts(self) -> tuple[int | None, ...]:
        return (self.year, self.month, self.day, self.hour, self.minute, self.second)

    @property
    def precision(self) -> int:
        """Number of components given: 1 (year) .. 6 (second)."""
        return sum(1 for p in self.parts if p is not None)

    def __str__(self) -> str:
        out = f"{self.year:04d}"
        if self.month is not None:
            out += f"-{self.month:02d}"
        if self.day is not None:
            out += f"-{self.day:02d}"
        if self.date_only:
            return out
        if self.hour is not None:
            out += f"T{self.hour:02d}"
            out += _time_tail(self.minute, self.second, self.frac)
            out += format_tz(self.tz)
        return out


@dataclass(frozen=True, slots=True)
class Time:
    """A FHIRPath Time of day, hour to fractional-second precision."""

    hour: int
    minute: int | None = None
    second: int | None = None
    frac: str = ""

    system_type = "System.Time"

    @property
    def parts(self) -> tuple[int | None, ...]:
        return (self.hour, self.minute, self.second)

    @property
    def precision(self) -> int:
        return sum(1 for p in self.parts if p is not None)

    def __str__(self) -> str:
        return f"{self.hour:02d}" + _time_tail(self.minute, self.second, self.frac)


def _time_tail(minute: int | None, second: int | None, frac: str) -> str:
    out = ""
    if minute is not None:
        out += f":{minute:02d}"
    if second is not None:
        out += f":{second:02d}"
        if frac:
            out += "." + frac
    return out


def format_tz(tz: int | None) -> str:
    if tz is None:
        return ""
    if tz == 0:
        return "Z"
    sign = "+" if tz > 0 else "-"
    h, m = divmod(abs(tz), 60)
    return f"{sign}{h:02d}:{m:02d}"


def _tz(text: str | None) -> int | None:
    if not text:
        return None
    if text == "Z":
        return 0
    sign = 1 if text[0] == "+" else -1
    return sign * (int(text[1:3]) * 60 + int(text[4:6]))


def _opt(text: str | None) -> int | None:
    return None if text is None else int(text)


def parse_datetime(text: str, date_only: bool = False) -> DateTime | None:
    """A DateTime (or Date) from FHIR/ISO text (partial allowed); None if malformed or out of range."""
    m = _DATETIME_RE.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if date_only and h is not None:
        return None
    value = DateTime(
        int(y), _opt(mo), _opt(d), _opt(h), _opt(mi), _opt(s), frac or "", _tz(tz), date_only
    )
    return value if _valid(value) else None


def _valid(v: DateTime) -> bool:
    if v.month is not None and not 1 <= v.month <= 12:
        return False
    if v.day is not None:
        assert v.month is not None
        if not 1 <= v.day <= days_in_month(v.year, v.month):
            return False
    return _valid_time(v.hour, v.minute, v.second)


def _valid_time(h: int | None, mi: int | None, s: int | None) -> bool:
    return (h is None or 0 <= h <= 23) and (mi is None or 0 <= mi <= 59) and (s is None or 0 <= s <= 59)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_date(text: str) -> DateTime | None:
    """A FHIRPath Date from ``YYYY[-MM[-DD]]``."""
    if not _DATE_RE.match(text):
        return None
    return parse_datetime(text, date_only=True)


def parse_time(text: str) -> Time | None:
    """A FHIRPath Time from ``hh[:mm[:ss[.fff]]]``; None if malformed."""
    m = _TIME_RE.match(text)
    if not m:
        return None
    h, mi, s, frac = m.groups()
    if not _valid_time(int(h), _opt(mi), _opt(s)):
        return None
    return Time(int(h), _opt(mi), _opt(s), frac or "")


def parse_date_literal(text: str) -> DateTime | None:
    """A ``@...`` literal without the ``@``: a Date, or a DateTime when it has a ``T``."""
    if "T" not in text:
        return parse_datetime(text, date_only=True)
    if text.endswith("T"):
        text = text[:-1]
    value = parse_datetime(text)
    if value is None:
        return None
    return value


def format_decimal(d: Decimal) -> str:
    """Decimal as FHIRPath text: no exponent, trailing zeros as written (``0.0`` stays ``0.0``)."""
    text = format(d, "f")
    return "0" if text == "-0" else text
