"""string parameters (http://hl7.org/fhir/R4/search.html#string): starts-with by default, ``:exact``, ``:contains``.

Case and accents are ignored except with ``:exact``. A HumanName or Address matches on any of its
parts, each indexed as a row of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import fold, like_escape, unescape
from fhir_server.search.sql import Cond

TABLE = "idx_string"
COLUMNS = ("pid", "norm", "exact")
MODIFIERS = ("exact", "contains", "missing")
MAX_LEN = 512

_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _strings(value: Any, parts: tuple[str, ...]) -> Iterator[str]:
    for part in parts:
        v = value.get(part)
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            yield from (x for x in v if isinstance(x, str))


def values(item: TypedValue) -> Iterator[str]:
    v, t = item.value, item.type
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        if t == "HumanName":
            yield from _strings(v, _NAME_PARTS)
        elif t == "Address":
            yield from _strings(v, _ADDRESS_PARTS)
        elif t == "CodeableConcept" and isinstance(v.get("text"), str):
            yield v["text"]


def extract(items: list[TypedValue], pid: int) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    for item in items:
        for text in values(item):
            text = text[:MAX_LEN]
            if text not in seen:
                seen.add(text)
                yield (pid, fold(text), text)


def compile(pid: int, value: str, modifier: str | None, name: str = "string") -> Cond:
    """Rows of ``idx_string`` for ``pid`` matching one value."""
    value = unescape(value)
    if modifier == "exact":
        return Cond("pid = %s AND exact = %s", [pid, value[:MAX_LEN]])
    folded = like_escape(fold(value)[:MAX_LEN])
    if modifier == "contains":
        return Cond("pid = %s AND norm LIKE %s", [pid, f"%{folded}%"])
    return Cond("pid = %s AND norm LIKE %s", [pid, f"{folded}%"])
