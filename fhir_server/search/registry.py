"""Search parameters by resource type (http://hl7.org/fhir/R4/searchparameter.html).

The 1,375 official R4 SearchParameters, plus custom SearchParameter resources, indexed by
(resource type, code). A parameter defined for several bases (``clinical-patient``) gets, for each
base, only the branches of its FHIRPath expression that apply to that base. Each (type, code)
pair has a small integer ``pid`` (table ``search_param``) that the index rows carry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from fhir_server import definitions
from fhir_server.storage.crypto import content_bytes, content_sql

Json = dict[str, Any]
RESOURCE_LEVEL = ("Resource", "DomainResource")
# Parameters on the resource row itself, not in index tables.
ROW_PARAMS = {"_id", "_lastUpdated"}
# Defined without an expression in R4; there is nothing to index.
NOT_INDEXED = {"_text", "_content", "_query"}
SEARCH_TYPES = {"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}
COMPOSITE_SECOND = {"token", "quantity", "date", "string", "number", "reference"}


@dataclass(slots=True)
class Component:
    """One part of a composite parameter: its type and the expression evaluated on the composite's node."""

    code: str
    type: str
    expression: str


@dataclass(slots=True)
class SearchParam:
    res_type: str
    code: str
    type: str  # number | date | string | token | reference | composite | quantity | uri | special
    url: str
    expression: str | None  # the branches that apply to res_type
    targets: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()
    custom: bool = False
    pid: int = 0
    definition: Json = field(default_factory=dict, repr=False)

    @property
    def indexed(self) -> bool:
        return self.expression is not None and self.code not in ROW_PARAMS and self.supported

    @property
    def supported(self) -> bool:
        """Whether the engine can search on it (R4's 3-part MolecularSequence composites and
        DocumentReference.relationship, whose first component is not a token, are not)."""
        if self.code in NOT_INDEXED or self.type not in SEARCH_TYPES:
            return False
        if self.type == "composite":
            kinds = tuple(c.type for c in self.components)
            return len(kinds) == 2 and kinds[0] == "token" and kinds[1] in COMPOSITE_SECOND
        return self.expression is not None or self.code in ROW_PARAMS


def split_union(expression: str) -> list[str]:
    """Top-level ``|`` branches of a FHIRPath expression (outside parentheses, brackets and quotes)."""
    parts, depth, quote, start = [], 0, "", 0
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
        i += 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _root(branch: str) -> str:
    text = branch.lstrip("( ")
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[:end]


def branches_for(expression: str, res_type: str) -> str | None:
    """The part of a (possibly multi-base) expression that applies to ``res_type``.

    A branch starts with the type it is for (``Patient.name``), with ``Resource``/``DomainResource``
    (every type), or with an element name (``name | alias`` in InsurancePlan.name: the base itself).
    """
    branches = split_union(expression)
    mine = [b for b in branches if _root(b) == res_type or _root(b)[:1].islower()]
    if not mine:
        mine = [b for b in branches if _root(b) in RESOURCE_LEVEL]
    if not mine:
        return None
    return " | ".join(mine)


def _components(sp: Json, by_url: dict[str, Json]) -> tuple[Component, ...]:
    out = []
    for comp in sp.get("component", []):
        target = by_url.get(comp["definition"])
        if target is None:
            continue
        out.append(Component(target["code"], target["type"], comp["expression"]))
    return tuple(out)


class Registry:
    """Search parameters by type and code; rebuilt when custom SearchParameters change."""

    def __init__(self, custom: list[Json] | None = None) -> None:
        self.by_type: dict[str, dict[str, SearchParam]] = {}
        self._lock = threading.Lock()
        official = definitions.search_parameters()
        every = [*official, *(custom or [])]
        by_url = {sp["url"]: sp for sp in every if "url" in sp}
        types = sorted(definitions.resource_types())
        for n, sp in enumerate(every):
            self._add(sp, by_url, types, custom=n >= len(official))

    def _add(self, sp: Json, by_url: dict[str, Json], types: list[str], custom: bool) -> None:
        bases = sp.get("base", [])
        targets = [t for b in bases for t in (types if b in RESOURCE_LEVEL else [b])]
        expression = sp.get("expression")
        components = _components(sp, by_url) if sp["type"] == "composite" else ()
        for res_type in targets:
            if res_type not in self.by_type:
                self.by_type[res_type] = {}
            expr = branches_for(expression, res_type) if expression else None
            if expression and expr is None:
                continue
            self.by_type[res_type][sp["code"]] = SearchParam(
                res_type=res_type,
                code=sp["code"],
                type=sp["type"],
                url=sp.get("url", ""),
                expression=expr,
                targets=tuple(sp.get("target", [])),
                components=components,
                custom=custom,
                definition=sp,
            )

    def get(self, res_type: str, code: str) -> SearchParam | None:
        return self.by_type.get(res_type, {}).get(code)

    def params(self, res_type: str) -> dict[str, SearchParam]:
        return self.by_type.get(res_type, {})

    def indexed(self, res_type: str) -> list[SearchParam]:
        return [p for p in self.params(res_type).values() if p.indexed]

    def all(self) -> list[SearchParam]:
        return [p for params in self.by_type.values() for p in params.values()]


def load_registry(conn: Any) -> Registry:
    """The registry with the custom SearchParameters stored in the database, pids assigned.

    ``conn`` is a synchronous psycopg connection (used at start-up and after a SearchParameter write).
    """
    official = {sp["url"] for sp in definitions.search_parameters()}
    custom = []
    for (content,) in conn.execute(
        f"SELECT {content_sql('r')} FROM resource r WHERE r.res_type = 'SearchParameter' AND NOT r.deleted"
    ).fetchall():
        sp = orjson.loads(content_bytes(content))
        if sp.get("url") not in official and sp.get("status") != "retired" and sp.get("code") and sp.get("base"):
            custom.append(sp)
    registry = Registry(custom)
    assign_pids(conn, registry)
    return registry


def assign_pids(conn: Any, registry: Registry) -> None:
    params = registry.all()
    conn.execute(
        "INSERT INTO search_param (res_type, code, type) SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) "
        "ON CONFLICT (res_type, code) DO NOTHING",
        ([p.res_type for p in params], [p.code for p in params], [p.type for p in params]),
    )
    pids = {(t, c): pid for pid, t, c in conn.execute("SELECT pid, res_type, code FROM search_param").fetchall()}
    for p in params:
        p.pid = pids[(p.res_type, p.code)]


def capability_params(registry: Registry, res_type: str) -> list[Json]:
    """``CapabilityStatement.rest.resource.searchParam`` for a type: what the engine can search on."""
    out = []
    for sp in sorted(registry.params(res_type).values(), key=lambda p: p.code):
        if not sp.supported:
            continue
        entry: Json = {"name": sp.code, "type": sp.type}
        if sp.url:
            entry["definition"] = sp.url
        doc = sp.definition.get("description")
        if isinstance(doc, str):
            entry["documentation"] = doc.split("\n", 1)[0][:500]
        out.append(entry)
    return out
