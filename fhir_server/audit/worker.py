"""AuditEvent "written asynchronously but never lost" (R4 auditevent.html): the background half.

Every server process runs a worker that claims queued facts (``FOR UPDATE SKIP LOCKED``: several
processes share the queue without waiting on each other), turns them into AuditEvent resources
(``events``), writes those through the ordinary write path (stored, indexed for search, in the
outbox for subscriptions) and deletes the facts — one transaction: a worker killed half-way leaves
the facts for the next one, and a fact never becomes two AuditEvents. The changes of one request
with the same subtype and action (a transaction Bundle's creates) become one AuditEvent with one
entity per resource. The worker also applies the retention setting: AuditEvents recorded more
than ``FHIR_AUDIT_RETENTION_DAYS`` days ago are removed for good (not a change: no history, no event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from fhir_server.audit import events, patients
from fhir_server.audit.context import sanitized
from fhir_server.fhir.json import now
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.storage.repository import Conn
from fhir_server.storage.writes import WriteSession

log = logging.getLogger(__name__)
Json = dict[str, Any]
BATCH = 500
POLL_SECONDS = 1.0
DEBOUNCE = 0.2
PURGE_LOCK = 727_007
PURGE_CHUNK = 5000
Key = tuple[str, str, int]


def _json(raw: Any) -> Json | None:
    if raw is None:
        return None
    data = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    return data if isinstance(data, dict) else None


def _opened(res_type: str, rid: str, raw: Any) -> Json | None:
    """The stored JSON of a version; None when it cannot be read (the AuditEvent is written without the patients
    it concerns rather than holding up the queue behind one unreadable row)."""
    try:
        return _json(content_bytes(raw))
    except Exception:
        log.exception("audit: the stored content of %s/%s cannot be read", res_type, rid)
        return None


async def _history(conn: Conn, keys: set[Key]) -> dict[Key, tuple[str, Json | None]]:
    """(method, content) of these versions."""
    if not keys:
        return {}
    ts, ids, vs = zip(*keys, strict=True)
    cur = await conn.execute(
        f"SELECT h.res_type, h.id, h.version, h.method, {content_sql('h')} FROM resource_history h "
        "JOIN unnest(%s::text[], %s::text[], %s::int[]) AS k(t, i, v) "
        "ON h.res_type = k.t AND h.id = k.i AND h.version = k.v", (list(ts), list(ids), list(vs)))
    return {(t, i, v): (m, _opened(t, i, c)) for t, i, v, m, c in await cur.fetchall()}


async def _latest(conn: Conn, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Json | None]:
    """The latest content of these resources (of the last version before a deletion)."""
    if not keys:
        return {}
    ts, ids = zip(*keys, strict=True)
    cur = await conn.execute(
        f"SELECT DISTINCT ON (h.res_type, h.id) h.res_type, h.id, {content_sql('h')} FROM resource_history h "
        "JOIN unnest(%s::text[], %s::text[]) AS k(t, i) ON h.res_type = k.t AND h.id = k.i "
        "WHERE (h.content IS NOT NULL OR h.content_enc IS NOT NULL) ORDER BY h.res_type, h.id, h.version DESC",
        (list(ts), list(ids)))
    return {(t, i): _opened(t, i, c) for t, i, c in await cur.fetchall()}


class Builder:
    """AuditEvents for one claimed batch of facts."""

    def __init__(self, server: Any, base: str) -> None:
        self.server, self.base = server, base
        self.current: dict[tuple[str, str], Json | None] = {}

    def _patients(self, res_type: str, content: Json | None) -> list[str]:
        return patients.of_resource(self.server.indexer, res_type, content) if content else []

    async def build(self, conn: Conn, rows: list[tuple[Any, ...]]) -> list[Json]:
        wanted: set[Key] = set()
        instances: set[tuple[str, str]] = set()
        for _, _, kind, _, t, i, v, action, data in rows:
            if kind == "write" and t and i and v:
                wanted.add((t, i, v))
                if action == "delete" and v > 1:
                    wanted.add((t, i, v - 1))
            elif kind == "request":
                fact = _json(data) or {}
                vid = str(fact.get("vid") or "")
                t, i = fact.get("type"), fact.get("id")
                if not t or not i or t == "Patient":
                    continue
                if fact.get("code") in ("read", "vread") and vid.isdigit():
                    wanted.add((str(t), str(i), int(vid)))
                elif fact.get("code") in ("history-instance", "operation"):
                    instances.add((str(t), str(i)))
        found = await _history(conn, wanted)
        self.current = await _latest(conn, instances)
        out: list[Json] = []
        groups: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
        for row in rows:
            if row[2] == "write":
                groups.setdefault(self._group_key(row, found), []).append(row)
            else:
                out.append(self._safe(lambda r=row: self._request(r, found), row))
        for (_, subtype, action), members in groups.items():
            out.append(self._safe(lambda m=members, s=subtype, a=action: self._writes(m, s, a, found), members[0]))
        return out

    def _group_key(self, row: tuple[Any, ...], found: dict[Key, tuple[str, Json | None]]) -> tuple[str, str, str]:
        _, _, _, grp, t, i, v, action, _ = row
        method = found.get((t, i, v), ("", None))[0]
        subtype = events.SUBTYPE_OF_METHOD.get(method) or ("delete" if action == "delete" else str(action))
        return str(grp), subtype, events.WRITE_ACTIONS.get(str(action), "E")

    def _request(self, row: tuple[Any, ...], found: dict[Key, tuple[str, Json | None]]) -> Json:
        fact = _json(row[8]) or {}
        t, i, vid, code = fact.get("type"), fact.get("id"), str(fact.get("vid") or ""), fact.get("code")
        who: list[str] = []
        if code in ("read", "vread") and t and i and vid.isdigit():
            who = self._patients(str(t), found.get((str(t), str(i), int(vid)), ("", None))[1])
        elif code in ("search-type", "search-system", "history-type", "operation"):
            who = patients.of_query(t, str(fact.get("q") or ""), fact.get("cmp"), self.base)
        if t and i and code in ("history-instance", "operation"):
            more = [str(i)] if t == "Patient" else self._patients(str(t), self.current.get((str(t), str(i))))
            who += [p for p in more if p not in who]
        return events.request_event(fact, row[1], self.base, who)

    def _writes(self, rows: list[tuple[Any, ...]], subtype: str, action: str,
                found: dict[Key, tuple[str, Json | None]]) -> Json:
        refs: list[str] = []
        who: list[str] = []
        for _, _, _, _, t, i, v, act, _ in rows:
            refs.append(f"{t}/{i}/_history/{v}")
            content = found.get((t, i, v - 1 if act == "delete" else v), ("", None))[1]
            who += [p for p in self._patients(t, content) if p not in who]
        return events.write_event(_json(rows[0][8]), subtype, action, max(r[1] for r in rows), self.base, refs,
                                  who[: patients.MAX_PATIENTS])

    def _safe(self, make: Any, row: tuple[Any, ...]) -> Json:
        """A fact that cannot be described in full still becomes an AuditEvent (never lost, never stuck)."""
        try:
            event: Json = make()
            return event
        except Exception:
            log.exception("audit fact %s could not be described in full", row[0])
            fact = {"kind": "rest", "status": 0, "agent": (_json(row[8]) or {}).get("agent") or {}}
            return events.request_event(fact, row[1], self.base, [])


def _bare(event: Json) -> Json:
    """What is left of an AuditEvent the database refused: the event without its details."""
    keep = ("resourceType", "type", "subtype", "action", "recorded", "outcome", "source")
    bare = {k: event[k] for k in keep if k in event}
    bare["agent"] = events.agents(None)
    bare["outcomeDesc"] = "the details of this audit record could not be stored"
    return bare


async def process_once(server: Any, base: str, batch: int = BATCH, careful: bool = False) -> int:
    """Turn one batch of queued facts into AuditEvents; how many facts (0: none waiting or all claimed).

    ``careful``: each AuditEvent in a savepoint of its own, one the database refuses stored bare (the
    retry of a batch that failed: one bad fact neither blocks the queue nor is dropped).
    """
    async with server.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT seq, created, kind, grp, res_type, id, version, action, data FROM audit_queue "
            "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED", (batch,))
        rows = await cur.fetchall()
        if not rows:
            return 0
        built = [sanitized(e) for e in await Builder(server, base).build(conn, rows)]
        if careful:
            for event in built:
                try:
                    async with conn.transaction():
                        await _store(conn, server, [event])
                except psycopg.DataError:
                    log.exception("audit event refused by the database; stored without its details")
                    await _store(conn, server, [_bare(event)])
        else:
            await _store(conn, server, built)
        await conn.execute("DELETE FROM audit_queue WHERE seq = ANY(%s)", ([r[0] for r in rows],))
    return len(rows)


async def _store(conn: Conn, server: Any, built: list[Json]) -> None:
    session = WriteSession(conn, server.indexer, now())
    for event in built:
        session.stage_create("AuditEvent", event)
    await session.flush()


async def purge(server: Any, days: int) -> int:
    """Remove AuditEvents recorded more than ``days`` days ago; how many (one process at a time)."""
    param = server.registry.get("AuditEvent", "date")
    if days <= 0 or param is None:
        return 0
    cutoff = datetime.now(UTC) - timedelta(days=days)
    removed = 0
    while True:
        async with server.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (PURGE_LOCK,))
            if not (await cur.fetchone() or (False,))[0]:
                return removed
            cur = await conn.execute(
                "SELECT r.rid FROM resource r WHERE r.res_type = 'AuditEvent' AND r.rid IN "
                "(SELECT rid FROM idx_date WHERE pid = %s AND hi <= %s) LIMIT %s", (param.pid, cutoff, PURGE_CHUNK))
            rids = [r[0] for r in await cur.fetchall()]
            for table in server.indexer.tables:
                await conn.execute(f"DELETE FROM {table} WHERE rid = ANY(%s)", (rids,))
            await conn.execute("DELETE FROM resource_history WHERE rid = ANY(%s)", (rids,))
            await conn.execute("DELETE FROM resource WHERE rid = ANY(%s)", (rids,))
        removed += len(rids)
        if len(rids) < PURGE_CHUNK:
            return removed


class Worker:
    """The background task of one process: drain the queue when woken (or every second), purge hourly."""

    def __init__(self, server: Any, base: str, retention_days: int, purge_seconds: float) -> None:
        self.server, self.base = server, base
        self.retention_days, self.purge_seconds = retention_days, purge_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_purge = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                try:
                    while await process_once(self.server, self.base) == BATCH:
                        pass
                except psycopg.DataError:
                    log.warning("an audit batch was refused by the database; retrying it event by event")
                    await process_once(self.server, self.base, careful=True)
                    continue
                if self.retention_days > 0 and time.monotonic() >= self._next_purge:
                    self._next_purge = time.monotonic() + self.purge_seconds
                    gone = await purge(self.server, self.retention_days)
                    if gone:
                        log.info("audit retention: removed %d AuditEvents", gone)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("audit worker failed; retrying")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            await asyncio.sleep(DEBOUNCE)  # let a burst of facts gather into one batch
            self._wake.clear()
