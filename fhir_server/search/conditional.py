"""Matching for conditional interactions (http://hl7.org/fhir/R4/http.html#ccreate) with the search engine.

``If-None-Exist``, conditional update/delete/patch and conditional references use the full search
parameters, strictly: a parameter the server does not know is an error here (ignoring it would
widen the match and update or delete the wrong resource).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhir_server.errors import BadRequest
from fhir_server.search.compiler import Compiler
from fhir_server.search.params import parse
from fhir_server.search.registry import Registry
from fhir_server.search.sql import Cond, all_of
from fhir_server.storage.repository import Conn


def parse_query(query: str) -> list[tuple[str, str]]:
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not pairs:
        raise BadRequest(f"The condition '{query}' has no search parameters")
    return pairs


async def find_ids(conn: Conn, registry: Registry, res_type: str, query: str, limit: int = 2) -> list[str]:
    """Ids of the live ``res_type`` resources matching ``query`` (at most ``limit``)."""
    req = parse(parse_query(query), 1000)
    compiler = Compiler(registry, None)
    cond, _ = compiler.filters(res_type, req.filters)
    ignored = req.ignored + compiler.ignored
    if ignored:
        raise BadRequest("Condition not understood: " + "; ".join(f"{n}: {why}" for n, why in ignored))
    if not req.filters:
        raise BadRequest(f"The condition '{query}' has no search parameters")
    where = all_of([Cond("r.res_type = %s AND NOT r.deleted", [res_type]), cond])
    cur = await conn.execute(f"SELECT r.id FROM resource r WHERE {where.sql} LIMIT %s", [*where.args, limit])
    return [r[0] for r in await cur.fetchall()]


def condition(registry: Registry, res_type: str, params: list[tuple[str, str]], alias: str = "r") -> Cond:
    """The SQL condition (on ``alias``) of a search the server makes for itself, e.g. the active
    Subscriptions: it runs on the index tables, never on the stored JSON, which may be sealed."""
    req = parse(params, 1000)
    compiler = Compiler(registry, None)
    cond, _ = compiler.filters(res_type, req.filters, alias)
    ignored = req.ignored + compiler.ignored
    if ignored:
        raise ValueError(f"{res_type}?{params}: " + "; ".join(f"{n}: {why}" for n, why in ignored))
    return cond
