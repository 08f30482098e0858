"""token parameters (http://hl7.org/fhir/R4/search.html#token): ``code``, ``system|code``, ``|code``, ``system|``.

Indexed values: Coding and CodeableConcept (each coding; the text and displays for ``:text``),
Identifier (system|value; its type for ``:of-type``), ContactPoint (system|value), code, boolean,
id, uri and string values. Modifiers: ``:text``, ``:not``, ``:of-type``, ``:in``, ``:not-in``,
``:below``, ``:above``, ``:missing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server import terminology
from fhir_server.errors import BadRequest
from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import fold, like_escape, split_escaped, unescape
from fhir_server.search.sql import Cond, any_of

TABLE = "idx_token"
COLUMNS = ("pid", "system", "code", "text", "kind")
MODIFIERS = ("text", "not", "of-type", "in", "not-in", "below", "above", "missing")
OF_TYPE = 1
MAX_LEN = 512

Row = tuple[Any, ...]


def _text(value: Any) -> str | None:
    return fold(value)[:MAX_LEN] if isinstance(value, str) and value else None


def _coding(pid: int, c: dict[str, Any], text: str | None = None) -> Row | None:
    system, code = c.get("system"), c.get("code")
    if not isinstance(code, str) and not isinstance(system, str):
        return None
    return (pid, system if isinstance(system, str) else None, code if isinstance(code, str) else None,
            _text(c.get("display")) or text, 0)


def rows(item: TypedValue, pid: int, implicit_system: str | None) -> Iterator[Row]:
    v, t = item.value, item.type
    if isinstance(v, dict):
        if t == "CodeableConcept":
            text = _text(v.get("text"))
            codings = v.get("coding") or []
            displays = set()
            for c in codings:
                if isinstance(c, dict) and (row := _coding(pid, c, text)):
                    displays.add(row[3])
                    yield row
            if text and text not in displays:  # CodeableConcept.text, for :text (no code: no other match)
                yield (pid, None, None, text, 0)
        elif t == "Coding":
            if row := _coding(pid, v):
                yield row
        elif t == "Identifier":
            system, value = v.get("system"), v.get("value")
            type_cc = v.get("type") or {}
            if isinstance(value, str) or isinstance(system, str):
                yield (pid, system, value, _text(type_cc.get("text")), 0)
            if isinstance(value, str):
                for c in type_cc.get("coding") or []:
                    if isinstance(c, dict) and isinstance(c.get("code"), str):
                        yield (pid, c.get("system"), f"{c['code']}|{value}", None, OF_TYPE)
        elif t == "ContactPoint":
            # R4 search.html#token: a ContactPoint token has no URI, only the value; the
            # ContactPoint.system (phone, email...) is indexed as well so phone|555-1234 also works
            if isinstance(v.get("value"), str):
                yield (pid, None, v["value"][:MAX_LEN], None, 0)
                if isinstance(v.get("system"), str):
                    yield (pid, v["system"], v["value"][:MAX_LEN], None, 0)
        elif t in ("Quantity", "Age", "Duration", "Distance", "Count", "Money"):
            code = v.get("code") or v.get("currency")
            if isinstance(code, str):
                yield (pid, v.get("system"), code, None, 0)
        return
    if isinstance(v, bool):
        yield (pid, None, "true" if v else "false", None, 0)
    elif isinstance(v, str):
        yield (pid, implicit_system if t == "code" else None, v[:MAX_LEN], None, 0)
    elif v is not None and not isinstance(v, list):
        yield (pid, None, str(v), None, 0)


def extract(items: list[TypedValue], pid: int, implicit_system: str | None = None) -> Iterator[Row]:
    seen: set[Row] = set()
    for item in items:
        for row in rows(item, pid, implicit_system):
            if row not in seen:
                seen.add(row)
                yield row


def _split(value: str) -> tuple[str | None, str | None, bool]:
    """(system, code, has_bar) of ``system|code`` (``\\|`` is a literal bar)."""
    parts = split_escaped(value, "|")
    if len(parts) == 1:
        return None, unescape(value), False
    if len(parts) > 2:
        raise BadRequest(f"A token is [system]|[code]; '{value}' has more than one '|' (escape it as \\|)")
    return unescape(parts[0]), unescape(parts[1]), True


def _codes_condition(codes: frozenset[tuple[str, str]] | set[tuple[str, str]]) -> Cond:
    if not codes:
        return Cond("false")
    systems = [s for s, _ in codes]
    values = [c for _, c in codes]
    return Cond("(system, code) IN (SELECT * FROM unnest(%s::text[], %s::text[]))", [systems, values])


def _value_set(url: str) -> frozenset[tuple[str, str]]:
    codes = terminology.expand(url)
    if codes is None:
        raise BadRequest(f"The value set '{url}' is not known to this server or cannot be expanded")
    return frozenset((str(s), str(c)) for s, c in codes)


def _hierarchy(value: str, down: bool) -> Cond:
    system, code, has_bar = _split(value)
    if not has_bar or not system or not code:
        raise BadRequest(f":{'below' if down else 'above'} on a token needs system|code, not '{value}'")
    cs = terminology.code_system(system)
    if cs is None or code not in cs.concepts:
        raise BadRequest(f"The code '{code}' is not known in '{system}', so :below/:above cannot be applied")
    related = cs.descendants(code) if down else cs.ancestors(code)
    return _codes_condition({(system, c) for c in {code, *related}})


def match(value: str, modifier: str | None) -> Cond:
    """Condition on one idx_token row (without pid) for one search value."""
    if modifier == "text":
        folded = like_escape(fold(unescape(value)))
        return Cond("kind = 0 AND (text LIKE %s OR text LIKE %s)", [f"{folded}%", f"% {folded}%"])
    if modifier == "of-type":
        parts = [unescape(p) for p in split_escaped(value, "|")]
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise BadRequest(f":of-type needs [type system]|[type code]|[identifier value], not '{value}'")
        sql = "kind = 1 AND code = %s" + (" AND system = %s" if parts[0] else "")
        return Cond(sql, [f"{parts[1]}|{parts[2]}", *([parts[0]] if parts[0] else [])])
    if modifier in ("in", "not-in"):
        cond = _codes_condition(_value_set(unescape(value)))
        return Cond(f"kind = 0 AND ({cond.sql})", cond.args)
    if modifier in ("below", "above"):
        cond = _hierarchy(value, modifier == "below")
        return Cond(f"kind = 0 AND ({cond.sql})", cond.args)
    system, code, has_bar = _split(value)
    if not has_bar:
        return Cond("kind = 0 AND code = %s", [code])
    if system and code:
        return Cond("kind = 0 AND code = %s AND system = %s", [code, system])
    if code:
        return Cond("kind = 0 AND code = %s AND system IS NULL", [code])
    if system:
        return Cond("kind = 0 AND system = %s", [system])
    raise BadRequest("A token value '|' names neither a system nor a code")


def compile(pid: int, values: list[str], modifier: str | None) -> Cond:
    """Rows for ``pid`` matching any of ``values`` (a positive match; ``:not``/``:not-in`` negate outside)."""
    inner = None if modifier in ("not", "not-in") else modifier
    if modifier == "not-in":
        inner = "in"
    cond = any_of([match(v, inner) for v in values])
    return Cond(f"pid = %s AND ({cond.sql})", [pid, *cond.args])
