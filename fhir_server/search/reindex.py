"""Rebuilding search indexes (http://hl7.org/fhir/R4/searchparameter.html: a new SearchParameter applies to
resources written before it only once they are re-indexed).

``reindex`` re-extracts the index rows of stored resources in batches, one transaction per batch
(a batch's old rows are deleted and the new ones copied in together, so a search never sees a
resource half indexed). ``reindex_operation`` is the ``$reindex`` operation's handler: it answers
a Parameters resource with the number of resources re-indexed.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from psycopg_pool import AsyncConnectionPool

from fhir_server import definitions
from fhir_server.errors import BadRequest
from fhir_server.search.indexer import SearchIndexer
from fhir_server.storage.crypto import content_bytes, content_sql

Json = dict[str, Any]
BATCH = 500


class HasIndexer(Protocol):
    """What ``reindex`` needs of the server (``fhir_server.state.Server``)."""

    pool: AsyncConnectionPool
    indexer: SearchIndexer


async def reindex(server: HasIndexer, types: list[str] | None = None, batch: int = BATCH) -> int:
    """Re-extract the index rows of every live resource (of ``types``, or of all types); returns how many."""
    known = definitions.resource_types()
    for t in types or []:
        if t not in known:
            raise BadRequest(f"{t} is not a resource type")
    done, last = 0, 0
    indexer = server.indexer
    tables = indexer.tables
    while True:
        async with server.pool.connection() as conn, conn.transaction():
            sql = f"SELECT r.rid, r.res_type, {content_sql('r')} FROM resource r WHERE NOT r.deleted AND r.rid > %s"
            args: list[Any] = [last]
            if types is not None:
                sql += " AND r.res_type = ANY(%s)"
                args.append(types)
            cur = await conn.execute(sql + " ORDER BY r.rid LIMIT %s FOR UPDATE", [*args, batch])
            rows = await cur.fetchall()
            if not rows:
                return done
            rids = [r[0] for r in rows]
            for table in tables:
                await conn.execute(f"DELETE FROM {table} WHERE rid = ANY(%s)", (rids,))
            staged: dict[str, list[tuple[Any, ...]]] = {}
            for rid, res_type, content in rows:
                resource = orjson.loads(content_bytes(content))
                for table, found in indexer.extract(res_type, resource).items():
                    staged.setdefault(table, []).extend((rid, *row) for row in found)
            for table, index_rows in staged.items():
                columns = ", ".join(("rid", *tables[table]))
                async with conn.cursor() as c, c.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in index_rows:
                        await copy.write_row(row)
            done += len(rows)
            last = rids[-1]


async def reindex_operation(server: HasIndexer, res_type: str | None, params: list[tuple[str, str]]) -> Json:
    """``[base]/$reindex`` or ``[base]/[type]/$reindex`` (``type=`` may name types): a Parameters result."""
    types = [res_type] if res_type else None
    for name, value in params:
        if name == "type":
            wanted = [t.strip() for t in value.split(",") if t.strip()]
            types = [*(types or []), *wanted] if res_type is None else types
        elif name not in ("_format", "_pretty"):
            raise BadRequest(f"$reindex takes no parameter '{name}' (only type)")
    count = await reindex(server, types)
    return {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": count}]}
