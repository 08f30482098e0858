"""Resource rows (DESIGN.md "Storage model"): reads of the current row and of history versions.

Writes go through ``WriteSession`` (``fhir_server.storage.writes``), which stages them and
flushes them in bulk inside one database transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from fhir_server.storage.crypto import content_bytes, content_sql


# The stored JSON with resourceType first, or the sealed token (crypto.content_sql): read it through
# content_bytes().
def _content_sql(t: str) -> str:
    return content_sql(t)


CONTENT_SQL = _content_sql("r")

Conn = psycopg.AsyncConnection[Any]


@dataclass(slots=True)
class Current:
    """The current row of a resource (``content`` is None when deleted)."""

    rid: int
    version: int
    last_updated: datetime
    deleted: bool
    content: bytes | None


@dataclass(slots=True)
class Version:
    """One row of ``resource_history``."""

    seq: int
    res_type: str
    id: str
    version: int
    last_updated: datetime
    method: str
    content: bytes | None


_READ = (
    "SELECT rid, version, last_updated, deleted, "
    + _content_sql("r")
    + " FROM resource r WHERE res_type = %s AND id = %s"
)
_VREAD = (
    "SELECT seq, res_type, id, version, last_updated, method, "
    + _content_sql("h")
    + " FROM resource_history h WHERE res_type = %s AND id = %s AND version = %s"
)


async def read(conn: Conn, res_type: str, res_id: str) -> Current | None:
    cur = getattr(conn, "reader", None) or conn.cursor()
    await cur.execute(_READ, (res_type, res_id), prepare=True)
    row = await cur.fetchone()
    if row is None:
        return None
    return Current(row[0], row[1], row[2], row[3], content_bytes(row[4]))


async def vread(conn: Conn, res_type: str, res_id: str, version: int) -> Version | None:
    cur = await conn.execute(_VREAD, (res_type, res_id, version), prepare=True)
    row = await cur.fetchone()
    return _version(row) if row else None


def _version(row: tuple[Any, ...]) -> Version:
    return Version(row[0], row[1], row[2], row[3], row[4], row[5], content_bytes(row[6]))


async def exists_any_version(conn: Conn, res_type: str, res_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM resource WHERE res_type = %s AND id = %s", (res_type, res_id))
    return await cur.fetchone() is not None


@dataclass(slots=True)
class HistoryQuery:
    res_type: str | None = None
    res_id: str | None = None
    since: datetime | None = None
    at: tuple[datetime, datetime] | None = None  # [low, high) of the _at value
    before_seq: int | None = None  # paging cursor: only versions older than this
    count: int = 20


async def history(conn: Conn, q: HistoryQuery) -> list[Version]:
    """Versions newest first (R4 http.html#history), at most ``q.count + 1`` (to tell if more follow)."""
    where: list[str] = ["true"]
    args: list[Any] = []
    if q.res_type is not None:
        where.append("h.res_type = %s")
        args.append(q.res_type)
    if q.res_id is not None:
        where.append("h.id = %s")
        args.append(q.res_id)
    if q.since is not None:
        where.append("h.last_updated >= %s")
        args.append(q.since)
    if q.before_seq is not None:
        where.append("h.seq < %s")
        args.append(q.before_seq)
    if q.at is not None:
        # current at some point in [low, high): started before high, and not superseded before low
        where.append("h.last_updated < %s")
        args.append(q.at[1])
        where.append(
            "NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.res_type = h.res_type AND n.id = h.id "
            "AND n.version > h.version AND n.last_updated <= %s)"
        )
        args.append(q.at[0])
    sql = (
        "SELECT seq, res_type, id, version, last_updated, method, "
        + _content_sql("h")
        + f" FROM resource_history h WHERE {' AND '.join(where)} ORDER BY h.seq DESC LIMIT %s"
    )
    args.append(q.count + 1)
    cur = await conn.execute(sql, args)
    return [_version(r) for r in await cur.fetchall()]


async def history_total(conn: Conn, q: HistoryQuery) -> int | None:
    """Exact total for instance history (cheap); None for type/system history (may be huge)."""
    if q.res_id is None or q.res_type is None:
        return None
    cur = await conn.execute(
        "SELECT count(*) FROM resource_history WHERE res_type = %s AND id = %s", (q.res_type, q.res_id)
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0
