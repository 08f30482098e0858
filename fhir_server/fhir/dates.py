"""FHIR date, dateTime and instant values as ranges (http://hl7.org/fhir/R4/datatypes.html#dateTime, search.html#date).

A value denotes the whole interval its precision allows: ``2013-01`` is [2013-01-01, 2013-02-01).
Times without a zone are taken as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from fhir_server.errors import BadRequest

_DT = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _zone(tz: str | None) -> timezone:
    if tz is None or tz == "Z":
        return UTC
    sign = 1 if tz[0] == "+" else -1
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _add_months(t: datetime, months: int) -> datetime:
    total = t.month - 1 + months
    return t.replace(year=t.year + total // 12, month=total % 12 + 1)


def date_range(value: str) -> tuple[datetime, datetime]:
    """The [low, high) interval a FHIR date/dateTime/instant denotes; ValueError if it is not one."""
    m = _DT.fullmatch(value.strip())
    if m is None:
        raise ValueError(f"'{value}' is not a FHIR date, dateTime or instant")
    g = m.groupdict()
    tz = _zone(g["tz"])
    year = int(g["y"])
    if g["m"] is None:
        low = datetime(year, 1, 1, tzinfo=tz)
        return low.astimezone(UTC), low.replace(year=year + 1).astimezone(UTC)
    month = int(g["m"])
    if g["d"] is None:
        low = datetime(year, month, 1, tzinfo=tz)
        return low.astimezone(UTC), _add_months(low, 1).astimezone(UTC)
    day = int(g["d"])
    if g["H"] is None:
        low = datetime(year, month, day, tzinfo=tz)
        return low.astimezone(UTC), (low + timedelta(days=1)).astimezone(UTC)
    hour, minute = int(g["H"]), int(g["M"])
    if g["S"] is None:
        low = datetime(year, month, day, hour, minute, tzinfo=tz)
        return low.astimezone(UTC), (low + timedelta(minutes=1)).astimezone(UTC)
    second = min(int(g["S"]), 59)  # leap second 60 → 59
    frac = g["f"] or ""
    micro = int((frac + "000000")[:6]) if frac else 0
    low = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    step = timedelta(microseconds=10 ** max(0, 6 - len(frac))) if frac else timedelta(seconds=1)
    return low.astimezone(UTC), (low + step).astimezone(UTC)


def parse_range_param(value: str, name: str) -> tuple[datetime, datetime]:
    try:
        return date_range(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: '{value}' is not a valid date/dateTime (e.g. 2024-05-01T10:00:00Z)") from exc


def parse_instant_param(value: str, name: str) -> datetime:
    return parse_range_param(value, name)[0]
