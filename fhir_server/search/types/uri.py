"""uri parameters (http://hl7.org/fhir/R4/search.html#uri): exact match, ``:below`` and ``:above`` on path segments.

``url:below=http://acme.org/fhir`` matches that URL and every URL under it
(``http://acme.org/fhir/ValueSet/123``), ``url:above=http://acme.org/fhir/ValueSet/123`` matches
that URL and the URLs it lies under (``http://acme.org/fhir``). Both stay on whole path segments,
and both use the ``(pid, uri)`` index: ``:below`` as a prefix range, ``:above`` as a list of prefixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import like_escape, unescape
from fhir_server.search.sql import Cond, any_of

TABLE = "idx_uri"
COLUMNS = ("pid", "uri")
MODIFIERS = ("below", "above", "missing")
MAX_LEN = 2048


def extract(items: list[TypedValue], pid: int) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    for item in items:
        v = item.value
        if isinstance(v, dict):  # Attachment.url, Reference.reference used as a uri
            v = v.get("url") or v.get("reference")
        if isinstance(v, str) and v not in seen and len(v) <= MAX_LEN:
            seen.add(v)
            yield (pid, v)


def ancestors(uri: str) -> list[str]:
    """``uri`` and every prefix of it that ends a path segment (not cutting into ``scheme://host``)."""
    out = [uri]
    start = uri.find("://")
    floor = uri.find("/", start + 3) if start >= 0 else uri.find(":") + 1
    if floor <= 0:
        return out
    cut = uri.rstrip("/")
    while True:
        slash = cut.rfind("/")
        if slash < floor:
            break
        cut = cut[:slash]
        out.append(cut)
    return out


def match(raw: str, modifier: str | None) -> Cond:
    value = unescape(raw)
    if modifier == "below":
        stem = value.rstrip("/")
        return Cond("(uri = %s OR uri LIKE %s)", [stem, like_escape(stem) + "/%"])
    if modifier == "above":
        return Cond("uri = ANY(%s)", [ancestors(value)])
    return Cond("uri = %s", [value])


def compile(pid: int, values: list[str], modifier: str | None) -> Cond:
    cond = any_of([match(v, modifier) for v in values])
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
