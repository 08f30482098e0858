"""One database transaction of writes (DESIGN.md "Writes"): stage, then flush in bulk.

Creates, updates and deletes are staged in memory (ids, versions, ``meta`` and index rows worked
out in Python) and written by ``flush()`` with COPY into ``resource``, ``resource_history``, the
index tables and the ``outbox`` (one event per change, in the same transaction: no change without
its event, no event without its change), so a transaction Bundle of 200 entries costs a handful of
round trips.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from fhir_server.errors import BadRequest, Gone, NotFound, PreconditionFailed
from fhir_server.fhir.json import dumps, instant
from fhir_server.storage import crypto
from fhir_server.storage.repository import Conn

Json = dict[str, Any]
IndexRows = dict[str, list[tuple[Any, ...]]]


class Indexer(Protocol):
    """Turns a resource into search index rows (table → rows without the leading ``rid``)."""

    tables: dict[str, Sequence[str]]  # table → columns after rid

    def extract(self, res_type: str, resource: Json) -> IndexRows: ...


class NoIndexer:
    tables: dict[str, Sequence[str]] = {}

    def extract(self, res_type: str, resource: Json) -> IndexRows:
        return {}


@dataclass(slots=True)
class Written:
    """A staged write and what the client is told about it."""

    res_type: str
    id: str
    version: int
    last_updated: datetime
    method: str  # POST | PUT | PATCH | DELETE
    resource: Json | None  # the stored resource (None for a delete)
    created: bool = False
    rid: int | None = None
    content: str = ""  # the stored JSON text
    index: IndexRows = field(default_factory=dict)
    is_new_row: bool = False

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def location(self) -> str:
        return f"{self.res_type}/{self.id}/_history/{self.version}"


@dataclass(slots=True)
class Locked:
    rid: int
    version: int
    deleted: bool


PIPELINE_ROWS = 64  # up to this many rows for a table, pipelined INSERTs beat a COPY


class RidAllocator:
    """Resource row ids from ``resource_rid_seq``, fetched in blocks (one round trip per block, not per write)."""

    BLOCK = 256

    def __init__(self) -> None:
        self._free: dict[str, list[int]] = {}

    async def take(self, conn: Conn, n: int) -> list[int]:
        key = conn.info.dsn
        while len(self._free.get(key, ())) < n:
            cur = await conn.execute("SELECT nextval('resource_rid_seq') FROM generate_series(1, %s)",
                                     (n + self.BLOCK,))
            fetched = [r[0] for r in await cur.fetchall()]
            self._free.setdefault(key, []).extend(fetched)  # re-read after the await: others may have taken some
        free = self._free[key]
        taken = free[:n]
        del free[:n]
        return taken


_rids = RidAllocator()


def _action(w: Written) -> str:
    if w.resource is None:
        return "delete"
    return "create" if w.created else "update"


def new_id() -> str:
    return str(uuid.uuid4())


def stamp(resource: Json, res_type: str, res_id: str, version: int, when: datetime) -> Json:
    """The resource as stored: id set, ``meta.versionId``/``meta.lastUpdated`` set, other meta kept."""
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["versionId"] = str(version)
    meta["lastUpdated"] = instant(when)
    out: Json = {"resourceType": res_type, "id": res_id, "meta": meta}
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


def _stored(keys: crypto.Keys | None, batch: list[Written]) -> list[tuple[str | None, bytes | None, str | None]]:
    """(content, content_enc, key_id) of each write: sealed when this process has a current key, once
    per version (the same bytes go to ``resource`` and ``resource_history``), bound to Type/id/version."""
    if keys is None or keys.current_id is None:
        return [(w.content or None, None, None) for w in batch]
    return [(None, keys.seal(w.content.encode(), f"{w.res_type}/{w.id}/{w.version}"), keys.current_id)
            if w.content else (None, None, None) for w in batch]


class WriteSession:
    """Writes of one database transaction. Call inside ``conn.transaction()``; ``flush()`` before commit."""

    def __init__(self, conn: Conn, indexer: Indexer, when: datetime) -> None:
        self.conn = conn
        self.indexer = indexer
        self.now = when
        self.pending: list[Written] = []
        self._locked: dict[tuple[str, str], Locked | None] = {}
        self._staged: set[tuple[str, str]] = set()
        self.touched: set[str] = set()  # resource types written (e.g. a SearchParameter → reload the registry)

    async def lock_key(self, key: str) -> None:
        """Serialise transactions that decide on the same key (e.g. identical conditional creates)."""
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    async def lock(self, keys: Iterable[tuple[str, str]]) -> None:
        """Lock the current rows of these (type, id) pairs, remembering their versions."""
        wanted = [k for k in keys if k not in self._locked]
        if not wanted:
            return
        types = [k[0] for k in wanted]
        ids = [k[1] for k in wanted]
        cur = await self.conn.execute(
            "SELECT r.res_type, r.id, r.rid, r.version, r.deleted FROM resource r "
            "JOIN unnest(%s::text[], %s::text[]) AS k(t, i) ON r.res_type = k.t AND r.id = k.i "
            "ORDER BY r.rid FOR UPDATE OF r",
            (types, ids),
        )
        for k in wanted:
            self._locked[k] = None
        for t, i, rid, version, deleted in await cur.fetchall():
            self._locked[(t, i)] = Locked(rid, version, deleted)

    async def current(self, res_type: str, res_id: str) -> Locked | None:
        await self.lock([(res_type, res_id)])
        return self._locked[(res_type, res_id)]

    def _claim(self, res_type: str, res_id: str) -> None:
        key = (res_type, res_id)
        if key in self._staged:
            raise BadRequest(f"{res_type}/{res_id} is the target of more than one entry in this transaction")
        self._staged.add(key)

    def stage_create(self, res_type: str, resource: Json, res_id: str | None = None) -> Written:
        """A new resource with a server id (or ``res_id`` when the caller checked it is free)."""
        res_id = res_id or new_id()
        self._claim(res_type, res_id)
        return self._stage(res_type, res_id, 1, "POST", resource, None, created=True)

    async def stage_update(
        self, res_type: str, res_id: str, resource: Json, if_match: int | None = None, method: str = "PUT"
    ) -> Written:
        """Update (or update-as-create) ``res_type/res_id``; ``if_match`` is the version the client saw."""
        cur = await self.current(res_type, res_id)
        if if_match is not None and (cur is None or cur.deleted or cur.version != if_match):
            have = "does not exist" if cur is None or cur.deleted else f"is at version {cur.version}"
            raise PreconditionFailed(f"If-Match W/\"{if_match}\" failed: {res_type}/{res_id} {have}")
        self._claim(res_type, res_id)
        if cur is None:
            return self._stage(res_type, res_id, 1, method, resource, None, created=True)
        return self._stage(res_type, res_id, cur.version + 1, method, resource, cur.rid, created=cur.deleted)

    async def stage_delete(self, res_type: str, res_id: str, if_match: int | None = None) -> Written | None:
        """Delete; None when there is nothing to delete (absent or already deleted)."""
        cur = await self.current(res_type, res_id)
        if if_match is not None and (cur is None or cur.deleted or cur.version != if_match):
            raise PreconditionFailed(f"If-Match W/\"{if_match}\" failed for {res_type}/{res_id}")
        if cur is None or cur.deleted:
            return None
        self._claim(res_type, res_id)
        return self._stage(res_type, res_id, cur.version + 1, "DELETE", None, cur.rid)

    async def require_live(self, res_type: str, res_id: str) -> Locked:
        cur = await self.current(res_type, res_id)
        if cur is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        if cur.deleted:
            raise Gone(f"{res_type}/{res_id} has been deleted")
        return cur

    def _stage(
        self,
        res_type: str,
        res_id: str,
        version: int,
        method: str,
        resource: Json | None,
        rid: int | None,
        created: bool = False,
    ) -> Written:
        stored = stamp(resource, res_type, res_id, version, self.now) if resource is not None else None
        w = Written(res_type, res_id, version, self.now, method, stored, created=created, rid=rid)
        w.is_new_row = rid is None
        self.touched.add(res_type)
        if stored is not None:
            try:
                w.content = dumps(stored).decode()
            except orjson.JSONEncodeError as exc:  # nesting deeper than the serializer allows (254)
                raise BadRequest(f"{res_type} nests its content too deeply to be stored") from exc
            w.index = self.indexer.extract(res_type, stored)
        self._locked[(res_type, res_id)] = None  # re-read if asked again: the row changes at flush
        self.pending.append(w)
        return w

    async def flush(self) -> None:
        """Write everything staged so far: small sets as pipelined INSERTs (one round trip), large ones by COPY."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        await self._assign_rids(batch)
        keys = crypto.active()
        stored = list(zip(batch, _stored(keys, batch), strict=True))
        # unsealed: the content column alone, as before encryption existed (nothing more to send)
        cols: tuple[str, ...] = ("content", "content_enc", "key_id") if keys and keys.sealing else ("content",)
        n = len(cols)
        inserts: list[tuple[str, Sequence[str], list[tuple[Any, ...]]]] = [
            ("resource", ("rid", "res_type", "id", "version", "last_updated", "deleted", *cols),
             [(w.rid, w.res_type, w.id, w.version, w.last_updated, False, *c[:n]) for w, c in stored if w.is_new_row]),
            ("resource_history", ("rid", "res_type", "id", "version", "last_updated", "method", *cols),
             [(w.rid, w.res_type, w.id, w.version, w.last_updated, w.method, *c[:n]) for w, c in stored]),
        ]
        for table, columns in self.indexer.tables.items():
            inserts.append((table, ("rid", *columns),
                            [(w.rid, *row) for w in batch for row in w.index.get(table, ())]))
        inserts.append(("outbox", ("rid", "res_type", "id", "version", "action"),
                        [(w.rid, w.res_type, w.id, w.version, _action(w)) for w in batch]))
        big = [t for t in inserts if len(t[2]) > PIPELINE_ROWS]
        async with self.conn.pipeline(), self.conn.cursor() as cur:
            old = [(w, c) for w, c in stored if not w.is_new_row]
            if old:
                await cur.executemany(
                    "UPDATE resource SET version = %s, last_updated = %s, deleted = %s, content = %s::jsonb, "
                    "content_enc = %s, key_id = %s WHERE rid = %s",
                    [(w.version, w.last_updated, w.resource is None, *c, w.rid) for w, c in old],
                )
                rids = [w.rid for w, _ in old]
                for table in self.indexer.tables:
                    await cur.execute(f"DELETE FROM {table} WHERE rid = ANY(%s)", (rids,))
            for table, columns, rows in inserts:
                if rows and len(rows) <= PIPELINE_ROWS:
                    marks = ", ".join(["%s"] * len(columns))
                    await cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        for table, columns, rows in big:
            await self._copy(table, columns, rows)

    async def _assign_rids(self, batch: list[Written]) -> None:
        need = [w for w in batch if w.rid is None]
        if need:
            for w, rid in zip(need, await _rids.take(self.conn, len(need)), strict=True):
                w.rid = rid

    async def _copy(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        async with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
