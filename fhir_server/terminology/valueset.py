"""ValueSet expansion from ``compose`` (http://hl7.org/fhir/R4/valueset.html#compositions), locally.

Only what the shipped R4 definitions can answer exactly is expanded: an include of a code system
that is not held locally with ``content = complete`` (SNOMED CT, LOINC, UCUM, BCP-47, ...) can only
contribute its enumerated ``concept`` list; an include of all of it, or a filter over it, or a filter
we do not evaluate makes the whole value set not expandable (``None``). Guessing would turn a
required binding into false rejections, so "unknown" is always an explicit answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from fhir_server.terminology import overlay
from fhir_server.terminology.codesystem import CodeSystemIndex, code_system

Codes = frozenset[tuple[str, str]]
Resource = dict[str, Any]

_CODE_PROPERTIES = frozenset({"concept", "code"})


def _regex_filter(pattern: str, codes: Iterable[str]) -> set[str]:
    """The codes the (client-supplied) pattern matches in full; each match is time-limited and all
    of them together get one second, so a backtracking pattern cannot block the server."""
    from fhir_server.fhirpath import FHIRPathError
    from fhir_server.fhirpath.functions.strings import REGEX_BUDGET, REGEX_TIMEOUT, client_regex

    try:
        compiled = client_regex(pattern)
    except FHIRPathError as exc:
        raise NotExpandable(f"regex filter: {exc.message}") from exc
    deadline = time.monotonic() + REGEX_BUDGET
    out = set()
    for code in codes:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            if compiled.fullmatch(code, timeout=min(remaining, REGEX_TIMEOUT)):
                out.add(code)
        except TimeoutError as exc:
            raise NotExpandable(f"regex filter {pattern[:100]!r} takes too long") from exc
    return out


class NotExpandable(Exception):
    """The value set (or a part of it) can't be expanded from the local definitions."""


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def value_set(url: str) -> Resource | None:
    """The ValueSet resource for a canonical URL (``|version`` ignored), or None."""
    return overlay.find(url, "ValueSet")


_in_progress: set[str] = set()
_lock = threading.RLock()  # guards _in_progress: expansion is recursive and may run in threads


class _Cached:
    """A function cached per (argument, overlay in force); ``cache_clear()`` empties the cache."""

    def __init__(self, fn: Any) -> None:
        self._fn = lru_cache(maxsize=8192)(fn)

    def __call__(self, url: str) -> Any:
        return self._fn(url, overlay.current().key)

    def cache_clear(self) -> None:
        self._fn.cache_clear()


def _expand_once(value_set_url: str, key: int) -> Codes | None:
    """The (system, code) pairs of a value set, or None when it can't be expanded locally."""
    url = _strip_version(value_set_url)
    if url != value_set_url:
        codes: Codes | None = expand(url)
        return codes
    with _lock:
        if url in _in_progress:  # a value set importing itself (directly or not)
            return None
        _in_progress.add(url)
        try:
            return _expand(url)
        except NotExpandable:
            return None
        finally:
            _in_progress.discard(url)


def _expand_codes_once(value_set_url: str, key: int) -> frozenset[str] | None:
    """Only the codes of :func:`expand` (for ``code`` elements, which carry no system)."""
    codes = expand(value_set_url)
    return None if codes is None else frozenset(code for _, code in codes)


expand = _Cached(_expand_once)
expand.__doc__ = _expand_once.__doc__
expand_codes = _Cached(_expand_codes_once)
expand_codes.__doc__ = _expand_codes_once.__doc__


def validate_code(value_set_url: str, system: str | None, code: str) -> bool | None:
    """Is ``code`` (from ``system``; any system when None) in the value set? None = unknown."""
    if system is None:
        codes = expand_codes(value_set_url)
        return None if codes is None else code in codes
    pairs = expand(value_set_url)
    return None if pairs is None else (system, code) in pairs


def _expand(url: str) -> Codes:
    vs = value_set(url)
    if vs is None:
        raise NotExpandable(f"value set {url} is not known locally")
    compose = vs.get("compose")
    if compose is None:
        return frozenset(_from_expansion(vs))
    out: set[tuple[str, str]] = set()
    for inc in compose.get("include", ()):
        out |= _component(inc)
    for exc in compose.get("exclude", ()):
        out -= _component(exc)
    return frozenset(out)


def _from_expansion(vs: Resource) -> Iterator[tuple[str, str]]:
    expansion = vs.get("expansion")
    if expansion is None:
        raise NotExpandable(f"value set {vs.get('url')} has neither compose nor expansion")
    if "parameter" in expansion and any(p.get("name") == "limitedExpansion" for p in expansion["parameter"]):
        raise NotExpandable("the stored expansion is incomplete")
    yield from _contains(expansion.get("contains", ()))


def _contains(items: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for item in items:
        if "system" in item and "code" in item:
            yield item["system"], item["code"]
        yield from _contains(item.get("contains", ()))


def _component(inc: dict[str, Any]) -> set[tuple[str, str]]:
    """The codes of one include/exclude: the intersection of its system part and its imports."""
    parts: list[set[tuple[str, str]]] = []
    system = inc.get("system")
    if system is not None:
        parts.append(_system_part(system, inc))
    for imported in inc.get("valueSet", ()):
        codes = expand(imported)
        if codes is None:
            raise NotExpandable(f"imported value set {imported} is not expandable")
        parts.append(set(codes))
    if not parts:
        raise NotExpandable("include without system or valueSet")
    result = parts[0]
    for part in parts[1:]:
        result &= part
    return result


def _system_part(system: str, inc: dict[str, Any]) -> set[tuple[str, str]]:
    if "concept" in inc:
        return {(system, c["code"]) for c in inc["concept"]}
    cs = code_system(system)
    if cs is None or not cs.complete:
        raise NotExpandable(f"code system {system} is not available locally in full")
    codes = set(cs.concepts)
    for f in inc.get("filter", ()):
        codes &= _filter(cs, f.get("property", ""), f.get("op", ""), str(f.get("value", "")))
    return {(system, c) for c in codes}


def _filter(cs: CodeSystemIndex, prop: str, op: str, value: str) -> set[str]:
    """The codes of ``cs`` matching one filter (valueset.html#filters, filter-operator)."""
    if prop in _CODE_PROPERTIES:
        return _code_filter(cs, op, value)
    if prop not in cs.declared_properties:
        raise NotExpandable(f"code system {cs.url} does not define the property {prop}")
    if op == "=":
        return {c.code for c in cs.concepts.values() if (prop, value) in c.properties}
    if op == "exists":
        want = value == "true"
        return {c.code for c in cs.concepts.values() if any(p == prop for p, _ in c.properties) is want}
    raise NotExpandable(f"filter {prop} {op} is not supported locally")


def _code_filter(cs: CodeSystemIndex, op: str, value: str) -> set[str]:
    here = {value} if value in cs.concepts else set()
    if op == "is-a":
        return here | cs.descendants(value)
    if op == "descendent-of":
        return cs.descendants(value)
    if op == "is-not-a":
        return set(cs.concepts) - here - cs.descendants(value)
    if op == "generalizes":
        return here | cs.ancestors(value)
    if op == "=":
        return here
    if op == "in":
        return {c for c in value.split(",") if c in cs.concepts}
    if op == "not-in":
        return set(cs.concepts) - set(value.split(","))
    if op == "regex":
        return _regex_filter(value, cs.concepts)
    raise NotExpandable(f"filter concept {op} is not supported locally")
