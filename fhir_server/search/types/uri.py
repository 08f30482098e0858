"""uri parameters (http://hl7.org/fhir/R4/search.html#uri): exact match, ``:below`` (prefix), ``:above``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import like_escape
from fhir_server.search.sql import Cond, any_of

TABLE = "idx_uri"
COLUMNS = ("pid", "uri")
MODIFIERS = ("below", "above", "missing")


def extract(items: list[TypedValue], pid: int) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    for item in items:
        v = item.value
        if isinstance(v, dict):  # Attachment.url, Reference.reference used as a uri
            v = v.get("url") or v.get("reference")
        if isinstance(v, str) and v not in seen:
            seen.add(v)
            yield (pid, v)


def match(value: str, modifier: str | None) -> Cond:
    if modifier == "below":
        return Cond("uri LIKE %s", [like_escape(value) + "%"])
    if modifier == "above":
        return Cond("%s LIKE (replace(replace(replace(uri, '\\', '\\\\'), '%%', '\\%%'), '_', '\\_') || '%%')", [value])
    return Cond("uri = %s", [value])


def compile(pid: int, values: list[str], modifier: str | None) -> Cond:
    cond = any_of([match(v, modifier) for v in values])
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
