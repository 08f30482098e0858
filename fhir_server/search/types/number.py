"""number parameters (http://hl7.org/fhir/R4/search.html#number): prefixes and the precision of the value.

``100`` means [99.5, 100.5): the value "as written" with its implied precision.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import decimal
from fhir_server.search.sql import Cond
from fhir_server.search.types.prefix import parse_number, split_prefix

TABLE = "idx_number"
COLUMNS = ("pid", "value")
MODIFIERS = ("missing",)


def extract(items: list[TypedValue], pid: int) -> Iterator[tuple[Any, ...]]:
    for item in items:
        v = item.value
        if isinstance(v, dict):  # Range (e.g. RiskAssessment.prediction.probability)
            for end in ("low", "high"):
                d = decimal((v.get(end) or {}).get("value"))
                if d is not None:
                    yield (pid, d)
        else:
            d = decimal(v)
            if d is not None:
                yield (pid, d)


def compile(pid: int, raw: str, modifier: str | None, name: str = "number") -> Cond:
    prefix, text = split_prefix(raw)
    value, low, high = parse_number(text, name)
    col = "value"
    conds = {
        "eq": (f"{col} >= %s AND {col} < %s", [low, high]),
        "ne": (f"NOT ({col} >= %s AND {col} < %s)", [low, high]),
        "gt": (f"{col} > %s", [value]),
        "lt": (f"{col} < %s", [value]),
        "ge": (f"{col} >= %s", [value]),
        "le": (f"{col} <= %s", [value]),
        "sa": (f"{col} > %s", [value]),
        "eb": (f"{col} < %s", [value]),
        "ap": (f"{col} >= %s AND {col} <= %s", [value - abs(value) / 10, value + abs(value) / 10]),
    }
    sql, args = conds[prefix]
    return Cond(f"pid = %s AND {sql}", [pid, *args])
