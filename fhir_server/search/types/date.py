"""date parameters (http://hl7.org/fhir/R4/search.html#date): both sides are ranges, precision matters.

A resource value is indexed as [lo, hi): ``2013-01`` is the whole month, a Period runs from its
start to its end (an open end is ongoing: +infinity), a Timing covers its events and bounds.
A search value is a range too, compared with the R4 prefix rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhir.dates import date_range
from fhir_server.fhirpath import TypedValue
from fhir_server.search.sql import Cond
from fhir_server.search.types.prefix import split_prefix

TABLE = "idx_date"
COLUMNS = ("pid", "lo", "hi")
MODIFIERS = ("missing",)
LOWEST = datetime(1, 1, 1, tzinfo=UTC)
HIGHEST = datetime.max.replace(tzinfo=UTC)  # an open end: ongoing


def _range(text: Any) -> tuple[datetime, datetime] | None:
    if not isinstance(text, str):
        text = str(text) if text is not None and not isinstance(text, dict | list) else None
        if text is None:
            return None
    try:
        return date_range(text.lstrip("@"))
    except (ValueError, OverflowError):
        return None


def _period(v: dict[str, Any]) -> tuple[datetime, datetime] | None:
    start, end = _range(v.get("start")), _range(v.get("end"))
    if start is None and end is None:
        return None
    return (start[0] if start else LOWEST, end[1] if end else HIGHEST)


def ranges(item: TypedValue) -> Iterator[tuple[datetime, datetime]]:
    v = item.value
    if isinstance(v, dict):
        if item.type == "Timing":
            for event in v.get("event", []):
                r = _range(event)
                if r:
                    yield r
            bounds = (v.get("repeat") or {}).get("boundsPeriod")
            if isinstance(bounds, dict):
                r = _period(bounds)
                if r:
                    yield r
        else:  # Period (and anything with start/end)
            r = _period(v)
            if r:
                yield r
    else:
        r = _range(v)
        if r:
            yield r


def extract(items: list[TypedValue], pid: int) -> Iterator[tuple[Any, ...]]:
    for item in items:
        for lo, hi in ranges(item):
            yield (pid, lo, hi)


def search_range(text: str, name: str) -> tuple[datetime, datetime]:
    """The [low, high) range a search value denotes (its precision matters: ``2013-01`` is the month)."""
    if len(text) > 40:
        raise BadRequest(f"{name}: '{text[:40]}…' is not a valid date")
    try:
        return date_range(text)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name}: '{text}' is not a valid date (e.g. 2013-01-14 or 2013-01-14T10:00:00Z)") from exc


def condition(prefix: str, sl: datetime, sh: datetime, lo: str = "lo", hi: str = "hi") -> Cond:
    """Rows whose [lo, hi) stands in relation ``prefix`` to the search range [sl, sh) (search.html#prefix).

    eq: the search range contains the value's range; ne: it does not; gt/lt: the value's range
    reaches past the search range's end / before its start; ge/le: gt/lt or eq; sa/eb: the value's
    range starts after / ends before the search range; ap: the ranges overlap once the search
    range is widened by 10 % of its distance from now. Each form keeps one side of the index usable.
    """
    eq_sql, eq_args = f"{lo} >= %s AND {lo} < %s AND {hi} <= %s", [sl, sh, sh]
    if prefix == "eq":
        return Cond(eq_sql, eq_args)
    if prefix == "ne":
        return Cond(f"NOT ({eq_sql})", eq_args)
    if prefix == "gt":
        return Cond(f"{hi} > %s", [sh])
    if prefix == "lt":
        return Cond(f"{lo} < %s", [sl])
    if prefix == "ge":
        return Cond(f"{hi} > %s OR ({eq_sql})", [sh, *eq_args])
    if prefix == "le":
        return Cond(f"{lo} < %s OR ({eq_sql})", [sl, *eq_args])
    if prefix == "sa":
        return Cond(f"{lo} >= %s", [sh])
    if prefix == "eb":
        return Cond(f"{hi} <= %s", [sl])
    low, high = approximate(sl, sh)
    return Cond(f"{lo} < %s AND {hi} > %s", [high, low])


def instant_condition(prefix: str, sl: datetime, sh: datetime, col: str) -> Cond:
    """``condition`` for a column of millisecond instants, each the range [t, t + 1 ms): the ``+ 1 ms`` is
    moved to the argument side so that an index on the column serves every prefix."""
    ms = timedelta(milliseconds=1)
    eq_sql, eq_args = f"{col} >= %s AND {col} <= %s", [sl, sh - ms]
    forms: dict[str, tuple[str, list[Any]]] = {
        "eq": (eq_sql, eq_args),
        "ne": (f"NOT ({eq_sql})", eq_args),
        "gt": (f"{col} > %s", [sh - ms]),
        "lt": (f"{col} < %s", [sl]),
        "ge": (f"{col} > %s OR ({eq_sql})", [sh - ms, *eq_args]),
        "le": (f"{col} < %s OR ({eq_sql})", [sl, *eq_args]),
        "sa": (f"{col} >= %s", [sh]),
        "eb": (f"{col} <= %s", [sl - ms if sl - LOWEST >= ms else LOWEST]),
    }
    if prefix in forms:
        return Cond(*forms[prefix])
    low, high = approximate(sl, sh)
    return Cond(f"{col} < %s AND {col} > %s", [high, low - ms if low - LOWEST >= ms else LOWEST])


def approximate(sl: datetime, sh: datetime) -> tuple[datetime, datetime]:
    """The search range of ``ap``: widened on both sides by 10 % of the gap between it and now (R4's advice)."""
    now = datetime.now(UTC)
    widen = max(abs(now - sl), abs(now - sh)) / 10
    low = sl - widen if sl - LOWEST > widen else LOWEST
    high = sh + widen if HIGHEST - sh > widen else HIGHEST
    return low, high


def compile(pid: int, raw: str, modifier: str | None, name: str = "date") -> Cond:
    prefix, text = split_prefix(raw)
    sl, sh = search_range(text, name)
    cond = condition(prefix, sl, sh)
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
