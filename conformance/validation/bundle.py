"""Bundle rules (http://hl7.org/fhir/R4/bundle.html#rules) beyond its invariants.

- ``entry.fullUrl`` is absolute (a URL or a ``urn:uuid:``/``urn:oid:``), and a RESTful one ends
  with the entry resource's type and id;
- a link relation appears at most once;
- searchset: matches have ids and are of the searched type, ``outcome`` entries are OperationOutcomes;
- document and message Bundles resolve their references inside the Bundle, exactly once.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.validation.context import Ctx, seq
from fhir_server.fhirpath.resolve import literal
from fhir_server.validation.issues import Loc

Json = dict[str, Any]
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_RESTFUL = re.compile(r"https?://.*/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def check(ctx: Ctx, b: Json, here: Loc) -> None:
    entries = [e for e in seq(b.get("entry")) if isinstance(e, dict)]
    for i, e in enumerate(entries):
        _full_url(ctx, e, (here, "entry", i))
    _links(ctx, b, here)
    if b.get("type") == "searchset":
        _searchset(ctx, b, entries, here)
    if b.get("type") in ("document", "message") and ctx.options.bundle_references:
        _references(ctx, entries, here)


def _full_url(ctx: Ctx, e: Json, loc: Loc) -> None:
    url = e.get("fullUrl")
    if not isinstance(url, str):
        return
    if not _ABSOLUTE.match(url):
        ctx.error("invalid", f"The fullUrl must be an absolute URL (not '{url}')", loc)
        return
    res = e.get("resource")
    m = _RESTFUL.match(url)
    if m and isinstance(res, dict) and "id" in res and (m.group(1), m.group(2)) != (res.get("resourceType"), res["id"]):
        ctx.error(
            "invalid",
            f"The fullUrl '{url}' looks like a RESTful server URL, so it must end with the "
            f"resource's type and id ({res.get('resourceType')}/{res.get('id')})",
            loc,
        )


def _links(ctx: Ctx, b: Json, here: Loc) -> None:
    seen: set[str] = set()
    for i, link in enumerate(seq(b.get("link"))):
        rel = link.get("relation") if isinstance(link, dict) else None
        if isinstance(rel, str):
            if rel in seen:
                ctx.error("invalid", f"The link relationship type '{rel}' can only occur once", (here, "link", i))
            seen.add(rel)


def _searched_type(b: Json) -> str | None:
    for link in seq(b.get("link")):
        if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            m = re.search(r"/([A-Z][A-Za-z]+)(?:/_search)?(?:\?|$)", link["url"])
            return m.group(1) if m else None
    return None


def _searchset(ctx: Ctx, b: Json, entries: list[Json], here: Loc) -> None:
    searched = _searched_type(b)
    for i, e in enumerate(entries):
        res, search = e.get("resource"), e.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if not isinstance(res, dict):
            continue
        loc: Loc = ((here, "entry", i), "resource", -1)
        if mode == "outcome" and res.get("resourceType") != "OperationOutcome":
            ctx.error("invalid", f"This is not an OperationOutcome ({res.get('resourceType')})", loc)
        if mode == "match":
            if "id" not in res:
                ctx.error("invalid", "Search results must have ids", loc)
            if searched and res.get("resourceType") != searched:
                ctx.error(
                    "invalid",
                    f"This is not a matching resource type for the search "
                    f"({res.get('resourceType')} expecting {searched})",
                    loc,
                )


def _keys(e: Json) -> set[str]:
    found = e.get("resource")
    res: Json = found if isinstance(found, dict) else {}
    out = {e["fullUrl"]} if isinstance(e.get("fullUrl"), str) else set()
    if "id" in res:
        out.add(f"{res.get('resourceType')}/{res['id']}")
        raw = res.get("meta")
        meta: Json = raw if isinstance(raw, dict) else {}
        if "versionId" in meta:
            out.add(f"{res.get('resourceType')}/{res['id']}/_history/{meta['versionId']}")
    return out


def _references(ctx: Ctx, entries: list[Json], here: Loc) -> None:
    index: dict[str, int] = {}
    for e in entries:
        for k in _keys(e):
            index[k] = index.get(k, 0) + 1
    for i, e in enumerate(entries):
        res = e.get("resource")
        if isinstance(res, dict):
            for ref in _literal_refs(res):
                _resolve(ctx, ref, index, ((here, "entry", i), "resource", -1))


def _literal_refs(value: Any) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and not ref.startswith("#"):
            out.append(ref)
        for k, v in value.items():
            if k != "contained":
                out.extend(_literal_refs(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_literal_refs(v))
    return out


def _resolve(ctx: Ctx, ref: str, index: dict[str, int], loc: Loc) -> None:
    key = ref
    if ref not in index:
        parsed = literal(ref)
        key = f"{parsed[0]}/{parsed[1]}" if parsed and "/_history/" not in ref else ref
    n = index.get(key, 0)
    if n == 0 and (ref.startswith("urn:") or literal(ref) is not None):
        ctx.error("invalid", f"Can't find '{ref}' in the bundle", loc)
    elif n > 1:
        ctx.error("invalid", f"Found {n} matches for '{ref}' in the bundle", loc)
