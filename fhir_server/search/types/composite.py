"""composite parameters (http://hl7.org/fhir/R4/search.html#composite): ``code-value-quantity=loinc|8480-6$gt100``.

Both components come from the same element (the same Observation, or the same
``Observation.component``), so they are indexed together: one row per (first component, second
component) pair of each node the parameter's expression selects. The first component is a token;
the second may be a token, quantity, date, string, number or reference. The R4 composites with
three components (MolecularSequence coordinates) are not supported (see ``Registry``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import fold, like_escape, parse_reference, split_escaped, unescape
from fhir_server.search.sql import Cond, any_of
from fhir_server.search.types import date, number, quantity, reference, string, token
from fhir_server.search.types.prefix import split_prefix

TABLE = "idx_composite"
COLUMNS = ("pid", "c1_system", "c1_code", "c2_system", "c2_code", "c2_text", "c2_lo", "c2_hi",
           "c2_canon_code", "c2_canon_lo", "c2_canon_hi", "c2_dlo", "c2_dhi")
MODIFIERS = ("missing",)
SECOND_KINDS = ("token", "quantity", "date", "string", "number", "reference")

Row = tuple[Any, ...]
Evaluate = Callable[[int, TypedValue], list[TypedValue]]  # component index, node → values


def second_parts(kind: str, items: list[TypedValue]) -> Iterator[tuple[Any, ...]]:
    """The 10 ``c2_*`` columns for the values of the second component."""
    for item in items:
        if kind == "token":
            for r in token.rows(item, 0, None):
                if r[4] == 0:
                    yield (r[1], r[2], *(None,) * 8)
        elif kind == "quantity":
            for _, system, code, unit, lo, hi, canon, canon_lo, canon_hi in quantity.extract([item], 0):
                yield (system, code, unit, lo, hi, canon, canon_lo, canon_hi, None, None)
        elif kind == "date":
            for _, lo, hi in date.extract([item], 0):
                yield (*(None,) * 8, lo, hi)
        elif kind == "string":
            for text in string.values(item):
                yield (None, None, fold(text)[: string.MAX_LEN], *(None,) * 7)
        elif kind == "number":
            for _, v in number.extract([item], 0):
                yield (None, None, None, v, v, *(None,) * 5)
        elif kind == "reference":
            for r in reference.rows(item, 0, None):
                yield (r[1], r[2], r[3], *(None,) * 7)


def extract(nodes: list[TypedValue], pid: int, kinds: tuple[str, ...], evaluate: Evaluate) -> Iterator[Row]:
    if len(kinds) != 2:
        return
    seen: set[Row] = set()
    for node in nodes:
        firsts = [r for item in evaluate(0, node) for r in token.rows(item, 0, None) if r[4] == 0]
        seconds = list(second_parts(kinds[1], evaluate(1, node)))
        for f in firsts:
            for sec in seconds:
                row = (pid, f[1], f[2], *sec)
                if row not in seen:
                    seen.add(row)
                    yield row


def _token(value: str, system_col: str, code_col: str) -> Cond:
    parts = [unescape(p) for p in split_escaped(value, "|")]
    if len(parts) == 1:
        return Cond(f"{code_col} = %s", parts)
    if len(parts) != 2:
        raise BadRequest(f"A token is [system]|[code]; '{value}' has more than one '|'")
    system, code = parts
    if system and code:
        return Cond(f"{code_col} = %s AND {system_col} = %s", [code, system])
    if code:
        return Cond(f"{code_col} = %s AND {system_col} IS NULL", [code])
    if system:
        return Cond(f"{system_col} = %s", [system])
    raise BadRequest("A token value '|' names neither a system nor a code")


def _second(kind: str, value: str, name: str) -> Cond:
    if kind == "token":
        return _token(value, "c2_system", "c2_code")
    if kind == "string":
        return Cond("c2_text LIKE %s", [like_escape(fold(unescape(value))[: string.MAX_LEN]) + "%"])
    if kind == "date":
        prefix, text = split_prefix(value)
        sl, sh = date.search_range(text, name)
        return date.condition(prefix, sl, sh, "c2_dlo", "c2_dhi")
    if kind in ("quantity", "number"):
        return quantity.match(value, name, "c2_")
    t, i, url, _ = parse_reference(unescape(value), None)
    if t and i:
        return Cond("c2_system = %s AND c2_code = %s", [t, i])
    if url:
        return Cond("c2_text = %s", [url])
    return Cond("c2_code = %s", [unescape(value)])


def compile(pid: int, values: list[str], kinds: tuple[str, ...], name: str) -> Cond:
    if len(kinds) != 2 or kinds[0] != "token" or kinds[1] not in SECOND_KINDS:
        raise BadRequest(f"{name}: composites of {', '.join(kinds)} are not supported")
    options = []
    for value in values:
        parts = split_escaped(value, "$")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise BadRequest(f"{name} takes two values joined by '$' (e.g. http://loinc.org|8480-6$gt100), "
                             f"not '{value}'")
        options.append(_token(parts[0], "c1_system", "c1_code") & _second(kinds[1], parts[1], name))
    cond = any_of(options)
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
