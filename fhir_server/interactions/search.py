"""search (http://hl7.org/fhir/R4/http.html#search): type, compartment and system level."""

from __future__ import annotations

from fhir_server import definitions
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
    return await server.engine.search(conn, Scope([res_type], res_type), params, _options(server, base, prefer))


async def compartment_search(
    server: Server, conn: Conn, base: str, compartment: str, owner: str, res_type: str,
    params: list[tuple[str, str]], prefer: dict[str, str] | None = None,
) -> Json:
    """GET [compartment]/[id]/[type]?params."""
    check_type(compartment)
    check_id(owner)
    check_type(res_type)
    scope = Scope([res_type], f"{compartment}/{owner}/{res_type}", compartment=(compartment, owner))
    return await server.engine.search(conn, scope, params, _options(server, base, prefer))


async def system_search(
    server: Server, conn: Conn, base: str, params: list[tuple[str, str]], prefer: dict[str, str] | None = None,
) -> Json:
    """GET [base]?params, optionally restricted by ``_type``."""
    types = sorted(definitions.resource_types())
    rest = []
    for name, value in params:
        if name == "_type":
            wanted = [t.strip() for t in value.split(",") if t.strip()]
            for t in wanted:
                check_type(t)
            types = [t for t in types if t in wanted]
        else:
            rest.append((name, value))
    query = [("_type", ",".join(types))] if len(types) < len(definitions.resource_types()) else []
    scope = Scope(types, "" if not query else "")
    bundle = await server.engine.search(conn, scope, rest, _options(server, base, prefer))
    if query:
        for link in bundle.get("link", []):
            sep = "&" if "?" in link["url"] else "?"
            link["url"] = link["url"] + sep + f"_type={query[0][1]}"
    return bundle
