"""Matching for conditional interactions (http://hl7.org/fhir/R4/http.html#ccreate): ``_id``, ``identifier``, ``url``.

A deliberately small matcher on the stored JSONB, used by conditional create/update/delete/patch
and conditional references until the full search engine serves them. Parameters it does not know
are refused (ignoring one would widen the match and update or delete the wrong resource).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson

from fhir_server.errors import BadRequest
from fhir_server.storage.repository import Conn

SUPPORTED = ("_id", "identifier", "url")


def parse_query(query: str) -> list[tuple[str, str]]:
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not pairs:
        raise BadRequest(f"The condition '{query}' has no search parameters")
    return pairs


def _identifier_clause(value: str) -> tuple[str, list[object]]:
    if "|" in value:
        system, _, code = value.partition("|")
        probe: dict[str, str] = {}
        if system:
            probe["system"] = system
        if code:
            probe["value"] = code
        if not probe:
            raise BadRequest("identifier=| names neither a system nor a value")
        if not system:  # |code: an identifier with this value and no system
            return (
                "EXISTS (SELECT 1 FROM jsonb_array_elements(content->'identifier') i "
                "WHERE i->>'value' = %s AND NOT i ? 'system')",
                [code],
            )
        return "content->'identifier' @> %s::jsonb", [orjson.dumps([probe]).decode()]
    return "content->'identifier' @> %s::jsonb", [orjson.dumps([{"value": value}]).decode()]


def _clause(name: str, value: str) -> tuple[str, list[object]]:
    options = value.split(",")
    parts: list[str] = []
    args: list[object] = []
    for option in options:
        if name == "_id":
            parts.append("id = %s")
            args.append(option)
        elif name == "identifier":
            sql, a = _identifier_clause(option)
            parts.append(sql)
            args.extend(a)
        else:
            parts.append("content->>'url' = %s")
            args.append(option)
    return "(" + " OR ".join(parts) + ")", args


async def find_ids(conn: Conn, res_type: str, query: str, limit: int = 2) -> list[str]:
    """Ids of the live ``res_type`` resources matching ``query`` (at most ``limit``)."""
    where = ["res_type = %s", "NOT deleted"]
    args: list[object] = [res_type]
    for name, value in parse_query(query):
        if name in ("_format", "_pretty"):
            continue
        if name not in SUPPORTED:
            raise BadRequest(
                f"Conditional matching supports {', '.join(SUPPORTED)}; '{name}' is not supported yet"
            )
        if not value:
            raise BadRequest(f"The condition parameter '{name}' has no value")
        sql, a = _clause(name, value)
        where.append(sql)
        args.extend(a)
    args.append(limit)
    cur = await conn.execute(f"SELECT id FROM resource WHERE {' AND '.join(where)} LIMIT %s", args)
    return [r[0] for r in await cur.fetchall()]
