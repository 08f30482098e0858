"""search (http://hl7.org/fhir/R4/http.html#search): type, compartment and system level."""

from __future__ import annotations

from fhir_server import access, definitions
from fhir_server.errors import BadRequest
from fhir_server.interactions.common import Json, check_id, check_type
from fhir_server.search.engine import Options, Scope
from fhir_server.state import Server
from fhir_server.storage.repository import Conn


def _options(server: Server, base: str, prefer: dict[str, str] | None) -> Options:
    settings = server.settings
    strict = (prefer or {}).get("handling") == "strict"
    return Options(base, settings.default_page_size, settings.max_page_size, strict)


async def search(
    server: Server, conn: Conn, base: str, res_type: str, params: list[tuple[str, str]],
    prefer: dict[str, str] | None = None,
) -> Json:
    """GET [type]?params."""
    check_type(res_type)
    access.require("search-type", res_type)
    scope = Scope([res_type], res_type, extra=access.restriction("search-type", [res_type]))
    bundle = await server.engine.search(conn, scope, params, _options(server, base, prefer))
    return await _visible_includes(conn, base, bundle)


async def compartment_search(
    server: Server, conn: Conn, base: str, compartment: str, owner: str, res_type: str,
    params: list[tuple[str, str]], prefer: dict[str, str] | None = None,
) -> Json:
    """GET [compartment]/[id]/[type]?params."""
    check_type(compartment)
    check_id(owner)
    check_type(res_type)
    access.require("search-type", res_type)
    scope = Scope([res_type], f"{compartment}/{owner}/{res_type}", compartment=(compartment, owner),
                  extra=access.restriction("search-type", [res_type]))
    bundle = await server.engine.search(conn, scope, params, _options(server, base, prefer))
    return await _visible_includes(conn, base, bundle)


async def system_search(
    server: Server, conn: Conn, base: str, params: list[tuple[str, str]], prefer: dict[str, str] | None = None,
) -> Json:
    """GET [base]?params, optionally restricted by ``_type``."""
    types = sorted(definitions.resource_types())
    rest = []
    for name, value in params:
        if name == "_type":
            wanted = [t.strip() for t in value.split(",") if t.strip()]
            unknown = [t for t in wanted if t not in definitions.resource_types()]
            if unknown or not wanted:
                raise BadRequest(f"_type: {', '.join(unknown) or 'nothing'} is not a list of R4 resource types")
            types = [t for t in types if t in wanted]
        else:
            rest.append((name, value))
    query = [("_type", ",".join(types))] if len(types) < len(definitions.resource_types()) else []
    types = _searchable(types, explicit=bool(query))
    scope = Scope(types, "", extra=access.restriction("search-system", types))
    bundle = await _visible_includes(conn, base, await server.engine.search(
        conn, scope, rest, _options(server, base, prefer)))
    if query:
        for link in bundle.get("link", []):
            sep = "&" if "?" in link["url"] else "?"
            link["url"] = link["url"] + sep + f"_type={query[0][1]}"
    return bundle


def _searchable(types: list[str], explicit: bool) -> list[str]:
    """The types a system search covers for this caller: each named one must be allowed (403 if not);
    without ``_type``, the allowed ones."""
    acc = access.current()
    if not acc.restricted:
        return types
    if explicit:
        for t in types:
            acc.require("search-system", t)
        return types
    allowed = acc.types("search-system", types)
    if not allowed:
        acc.require("search-system", None)
    return allowed


async def _visible_includes(conn: Conn, base: str, bundle: Json) -> Json:
    """Drop the included resources (``_include``/``_revinclude``) the caller may not see."""
    if not access.current().restricted:
        return bundle
    entries = bundle.get("entry") or []
    refs = [_ref(base, e) for e in entries if e.get("search", {}).get("mode") == "include"]
    if not refs:
        return bundle
    seen = await access.visible_ids(conn, "search-type", [r for r in refs if r is not None])
    bundle["entry"] = [e for e in entries
                       if e.get("search", {}).get("mode") != "include" or _ref(base, e) in seen]
    return bundle


def _ref(base: str, entry: Json) -> tuple[str, str] | None:
    url = entry.get("fullUrl")
    if not isinstance(url, str) or not url.startswith(base + "/"):
        return None
    res_type, _, res_id = url[len(base) + 1:].partition("/")
    return res_type, res_id
