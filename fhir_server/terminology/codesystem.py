"""CodeSystem content and hierarchy (http://hl7.org/fhir/R4/codesystem.html), over the packed R4 definitions.

A :class:`CodeSystemIndex` is built once per code system from its ``concept`` tree. The hierarchy is
the union of concept nesting and the ``child``/``parent``/``subsumedBy`` concept properties (the HL7 v3
code systems use both: a concept can have several parents). ``is-a`` filters, ``$subsumes`` and the
search modifier ``:below`` all read :meth:`CodeSystemIndex.descendants`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fhir_server.terminology import overlay

Resource = dict[str, Any]

# Concept properties that define the hierarchy (codesystem.html#defined-props).
_CHILD_PROPS = frozenset({"child"})
_PARENT_PROPS = frozenset({"parent", "subsumedBy"})


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept of a code system, with its properties flattened to strings."""

    code: str
    display: str | None
    properties: tuple[tuple[str, str], ...]

    @property
    def abstract(self) -> bool:
        """True when the code system marks the concept as not selectable (a grouper)."""
        return ("notSelectable", "true") in self.properties or ("abstract", "true") in self.properties


@dataclass(slots=True)
class CodeSystemIndex:
    """The concepts of one code system and its parent → children relation."""

    url: str
    content: str  # complete | fragment | example | not-present | supplement
    case_sensitive: bool
    concepts: dict[str, Concept]
    declared_properties: frozenset[str] = frozenset()  # CodeSystem.property.code
    children: dict[str, set[str]] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """All the code system's concepts are in the definitions (content = complete)."""
        return self.content == "complete"

    @property
    def has_hierarchy(self) -> bool:
        return bool(self.children)

    def descendants(self, code: str) -> set[str]:
        """Every code below ``code`` (transitively), not including ``code`` itself."""
        return _closure(self.children, code)

    def ancestors(self, code: str) -> set[str]:
        """Every code above ``code`` (transitively), not including ``code`` itself."""
        return _closure(self.parents, code)

    def link(self, parent: str, child: str) -> None:
        self.children.setdefault(parent, set()).add(child)
        self.parents.setdefault(child, set()).add(parent)


def _closure(edges: dict[str, set[str]], start: str) -> set[str]:
    out: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        c = stack.pop()
        if c not in out:
            out.add(c)
            stack.extend(edges.get(c, ()))
    out.discard(start)  # a cycle in bad data must not make a code its own relative
    return out


def _property_value(prop: dict[str, Any]) -> str | None:
    for key, value in prop.items():
        if key.startswith("value"):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, str | int | float):
                return str(value)
            if isinstance(value, dict) and "code" in value:  # valueCoding
                return str(value["code"])
    return None


RawConcept = dict[str, Any]


def _flatten(concepts: Iterable[RawConcept], parent: str | None) -> Iterator[tuple[RawConcept, str | None]]:
    for c in concepts:
        yield c, parent
        yield from _flatten(c.get("concept", ()), c["code"])


def build_index(cs: Resource) -> CodeSystemIndex:
    """Index one CodeSystem resource."""
    index = CodeSystemIndex(
        url=cs["url"],
        content=cs.get("content", "complete"),
        case_sensitive=bool(cs.get("caseSensitive", True)),
        concepts={},
        declared_properties=frozenset(p["code"] for p in cs.get("property", ()) if "code" in p),
    )
    for raw, parent in _flatten(cs.get("concept", ()), None):
        code = raw["code"]
        props: list[tuple[str, str]] = []
        for p in raw.get("property", ()):
            value = _property_value(p)
            if value is None:
                continue
            props.append((p["code"], value))
            if p["code"] in _CHILD_PROPS:
                index.link(code, value)
            elif p["code"] in _PARENT_PROPS:
                index.link(value, code)
        index.concepts[code] = Concept(code, raw.get("display"), tuple(props))
        if parent is not None:
            index.link(parent, code)
    return index


@lru_cache(maxsize=4096)
def _code_system(url: str, key: int) -> CodeSystemIndex | None:
    res = overlay.find(url, "CodeSystem")
    return build_index(res) if res is not None else None


def code_system(url: str) -> CodeSystemIndex | None:
    """The index of a code system known locally (``|version`` ignored), or None."""
    return _code_system(url.split("|", 1)[0], overlay.current().key)


def descendants(system: str, code: str) -> set[str]:
    """Codes below ``code`` in ``system`` (not including it); empty when unknown or flat."""
    cs = code_system(system)
    return cs.descendants(code) if cs is not None else set()


def subsumes(system: str, code_a: str, code_b: str) -> str | None:
    """The $subsumes outcome for two codes of one system: equivalent | subsumes | subsumed-by |
    not-subsumed; None when the system is not known locally or a code is not in it."""
    cs = code_system(system)
    if cs is None or code_a not in cs.concepts or code_b not in cs.concepts:
        return None
    if code_a == code_b:
        return "equivalent"
    if code_b in cs.descendants(code_a):
        return "subsumes"
    if code_a in cs.descendants(code_b):
        return "subsumed-by"
    return "not-subsumed"
