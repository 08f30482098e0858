"""reference parameters (http://hl7.org/fhir/R4/search.html#reference).

Values: ``123`` (any target type), ``Patient/123``, an absolute URL (on this server → the local
resource; elsewhere → matched as a URL), a canonical URL (``|version`` optional). Modifiers:
``:[type]``, ``:identifier``, ``:missing``. Chains (``subject:Patient.name=x``) and ``_has`` are
built by the query compiler on top of ``target`` conditions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server import definitions
from fhir_server.errors import BadRequest
from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import parse_reference, split_escaped, unescape
from fhir_server.search.sql import Cond, any_of

TABLE = "idx_reference"
COLUMNS = ("pid", "target_type", "target_id", "url", "version", "ident_system", "ident_value")
MODIFIERS = ("identifier", "missing")  # and :[type]

Row = tuple[Any, ...]


def rows(item: TypedValue, pid: int, base: str | None) -> Iterator[Row]:
    v = item.value
    if isinstance(v, dict):
        ref = v.get("reference")
        ident = v.get("identifier")
        if not isinstance(ident, dict):
            ident = {}
        isys, ival = ident.get("system"), ident.get("value")
        if isinstance(ref, str):
            t, i, url, version = parse_reference(ref, base)
            if t or url:
                yield (pid, t, i, url, version, isys, ival)
                return
        declared = v.get("type") if isinstance(v.get("type"), str) else None
        if isinstance(ival, str) or declared:
            yield (pid, declared, None, None, None, isys, ival)
    elif isinstance(v, str):  # canonical / uri references
        t, i, url, version = parse_reference(v, base)
        if t or url:
            yield (pid, t, i, url, version, None, None)


def extract(items: list[TypedValue], pid: int, base: str | None = None) -> Iterator[Row]:
    seen: set[Row] = set()
    for item in items:
        for row in rows(item, pid, base):
            if row not in seen:
                seen.add(row)
                yield row


def _identifier(value: str) -> Cond:
    parts = [unescape(p) for p in split_escaped(value, "|")]
    if len(parts) == 1:
        return Cond("ident_value = %s", [parts[0]])
    if len(parts) != 2:
        raise BadRequest(f":identifier takes [system]|[value], not '{value}'")
    system, code = parts
    if system and code:
        return Cond("ident_system = %s AND ident_value = %s", [system, code])
    if code:
        return Cond("ident_value = %s AND ident_system IS NULL", [code])
    if system:
        return Cond("ident_system = %s", [system])
    raise BadRequest("A :identifier value '|' names neither a system nor a value")


def match(raw: str, modifier: str | None, targets: tuple[str, ...], base: str | None) -> Cond:
    """Condition on one idx_reference row (without pid) for one value."""
    if modifier == "identifier":
        return _identifier(raw)
    value = unescape(raw)
    type_filter = modifier  # :Patient
    if type_filter and (type_filter not in definitions.resource_types()
                        or (targets and type_filter not in targets)):
        raise BadRequest(f"':{type_filter}' is not a target type of this parameter ({', '.join(targets)})")
    if "/" not in value and ":" not in value:  # a bare id
        if type_filter:
            return Cond("target_id = %s AND target_type = %s", [value, type_filter])
        return Cond("target_id = %s", [value])
    t, i, url, version = parse_reference(value, base)
    if t and i:
        if type_filter and type_filter != t:
            raise BadRequest(f"'{value}' is not a {type_filter} reference")
        if url:  # an absolute URL on this server: the local resource, or a reference written that way
            return Cond("(target_id = %s AND target_type = %s) OR url = %s", [i, t, url])
        return Cond("target_id = %s AND target_type = %s", [i, t])
    if url:
        if version:
            return Cond("url = %s AND version = %s", [url, version])
        return Cond("url = %s", [url])
    raise BadRequest(f"'{value}' is not a reference ([type]/[id], [id] or an absolute URL)")


def compile(pid: int, values: list[str], modifier: str | None, targets: tuple[str, ...], base: str | None) -> Cond:
    cond = any_of([match(v, modifier, targets, base) for v in values])
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
