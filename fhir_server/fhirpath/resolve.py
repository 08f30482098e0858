"""FHIR resolve() (http://hl7.org/fhir/R4/fhirpath.html#functions): references to resources.

Resolution order for a Reference (or a canonical/uri string):
1. ``#id``: a contained resource of %resource / %rootResource;
2. a Bundle being evaluated: the entry whose ``fullUrl`` matches, or whose resource matches
   ``Type/id`` (relative references are taken against the entry's base);
3. the caller's resolver callback;
4. otherwise, for a literal ``[base/]Type/id`` reference, a stub ``{"resourceType": Type, "id": id}``,
   so that ``resolve() is Patient`` works in search parameters without a database round trip.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.items import Item
from fhir_server.model import model

_LITERAL = re.compile(r"(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def reference_of(item: Item) -> str | None:
    v = item.value
    if isinstance(v, dict):
        ref = v.get("reference")
        return ref if isinstance(ref, str) else None
    return v if isinstance(v, str) else None


def resolve_items(ctx: Ctx, items: list[Item]) -> list[Item]:
    out: list[Item] = []
    for it in items:
        ref = reference_of(it)
        if not ref:
            continue
        res = resolve_reference(ctx, ref)
        if res is not None:
            out.append(Item(res, str(res.get("resourceType", "Resource"))))
    return out


def resolve_reference(ctx: Ctx, ref: str) -> dict[str, Any] | None:
    roots = [i.value for i in ctx.resource + ctx.root_resource if type(i.value) is dict]
    if ref.startswith("#"):
        return _contained(roots, ref[1:])
    for root in roots:
        if root.get("resourceType") == "Bundle" and "entry" in root:
            found = _in_bundle(root, ref)
            if found is not None:
                return found
    if ctx.resolver is not None:
        found = ctx.resolver(ref)
        if found is not None:
            return found
    return stub(ref)


def stub(ref: str) -> dict[str, Any] | None:
    """A placeholder resource for a literal reference to a known resource type, else None."""
    parsed = literal(ref)
    return None if parsed is None else {"resourceType": parsed[0], "id": parsed[1]}


@lru_cache(maxsize=16384)
def literal(ref: str) -> tuple[str, str] | None:
    """(type, id) of a literal reference ``[base/]Type/id[/_history/v]`` to a known resource type."""
    m = _LITERAL.match(ref)
    if m and m.group(1) in model().resource_types:
        return m.group(1), m.group(2)
    return None


def _contained(roots: list[dict[str, Any]], rid: str) -> dict[str, Any] | None:
    for root in roots:
        if rid == "" and root.get("resourceType"):
            return root
        for c in root.get("contained", ()):
            if isinstance(c, dict) and c.get("id") == rid:
                return c
    return None


def _in_bundle(bundle: dict[str, Any], ref: str) -> dict[str, Any] | None:
    m = _LITERAL.match(ref)
    for entry in bundle.get("entry", ()):
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        full = entry.get("fullUrl")
        if full == ref:
            return res
        if (
            m
            and res.get("resourceType") == m.group(1)
            and res.get("id") == m.group(2)
            and ("://" not in ref or not full or full.endswith(f"/{m.group(1)}/{m.group(2)}"))
        ):
            return res
    return None
