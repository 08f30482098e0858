"""Generating the export files (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#file-format): NDJSON,
one resource per line, one file per type (split every ``bulk_file_rows`` resources).

Each step is one transaction and one SQL statement: the next ``bulk_chunk_rows`` matching rows of
a type, in row order after the saved cursor, are joined into one NDJSON part inside PostgreSQL
(``string_agg``) and stored in ``bulk_part``; the cursor and counters are saved in the same
transaction. So the server's memory stays flat whatever the size, and a job interrupted anywhere
resumes after its last committed part, in any server process, without a line lost or repeated.
With encryption at rest on (``storage/crypto.py``) the documents are sealed: the page's rows are
read instead, opened in this process and joined here into the part (one part in memory at a time),
which is stored sealed in turn (``crypto.seal_blob``) and opened as it is downloaded.

Resources are exported as they were at the job's ``transactionTime``: a row changed or deleted
since comes from ``resource_history`` at its version of that instant, and one created since is left
out. Matching (compartments, ``_typeFilter``, access) is decided on the current index rows, which
deleted resources no longer have: those are exported only by exports without such conditions.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from extensions.bulk import store
from fhir_server.storage import crypto
from fhir_server.storage.repository import _content_sql

if TYPE_CHECKING:
    from extensions.bulk.runner import BulkRunner

Json = dict[str, Any]
_DOC = (f"CASE WHEN r.last_updated <= %s THEN {_content_sql('r')} ELSE (SELECT {_content_sql('h')} "
        "FROM resource_history h WHERE h.rid = r.rid AND h.last_updated <= %s ORDER BY h.version DESC LIMIT 1) END")


_RESULT = "SELECT (SELECT max(rid) FROM page), (SELECT count(*) FROM page), coalesce((SELECT n FROM ins), 0)"


class Lost(Exception):
    """This process no longer runs the job (cancelled, or taken over after a lost lease)."""


def _page_sql(where: str) -> str:
    """The next page of a type after the cursor: live rows, and rows deleted since the transaction time
    (they existed then); their documents as of that time (NULL: created since)."""
    live = (f"SELECT r.rid FROM resource r WHERE r.res_type = %s AND NOT r.deleted AND r.rid > %s AND ({where}) "
            "ORDER BY r.rid LIMIT %s")
    gone = (f"SELECT r.rid FROM resource r WHERE r.res_type = %s AND r.deleted AND r.last_updated > %s "
            f"AND r.rid > %s AND ({where}) ORDER BY r.rid LIMIT %s")
    return (f"WITH ids AS (SELECT rid FROM (({live}) UNION ALL ({gone})) u ORDER BY rid LIMIT %s), "
            f"page AS (SELECT r.rid, {_DOC} AS doc FROM ids JOIN resource r ON r.rid = ids.rid)")


def _step_sql(where: str) -> str:
    """The next page joined into one NDJSON part inside PostgreSQL (plain JSON: no key in this process).
    A sealed document (written by a process with a key) stops the step: it cannot be exported from here."""
    return (
        f"{_page_sql(where)}, "
        "ins AS (INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, made_by, data) "
        "SELECT %s, %s, %s, 'output', %s, count(*), %s, string_agg(doc, E'\\n' ORDER BY rid) || E'\\n' "
        "FROM page WHERE doc IS NOT NULL HAVING count(*) > 0 RETURNING n) "
        f"{_RESULT}, (SELECT min(doc) FROM page WHERE starts_with(doc, '{crypto.PREFIX}'))"
    )


def _sealed_step_sql(where: str) -> str:
    """The next page's rows, opened and joined into the NDJSON part in this process (encryption on)."""
    return f"{_page_sql(where)} SELECT rid, doc FROM page ORDER BY rid"


def _deleted_sql(where: str) -> str:
    """The next page of resources deleted between ``_since`` (in ``where``) and the transaction time, as
    transaction Bundles of one DELETE entry each (the manifest's ``deleted`` files)."""
    entry = ("json_build_object('resourceType', 'Bundle', 'type', 'transaction', 'entry', json_build_array("
             "json_build_object('request', json_build_object('method', 'DELETE', 'url', res_type || '/' || id))))")
    return (
        f"WITH page AS (SELECT r.rid, r.res_type, r.id FROM resource r WHERE r.res_type = %s AND r.deleted "
        f"AND r.last_updated <= %s AND r.rid > %s AND ({where}) ORDER BY r.rid LIMIT %s), "
        "ins AS (INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, made_by, data) "
        f"SELECT %s, %s, %s, 'deleted', %s, count(*), %s, string_agg({entry}::text, E'\\n' ORDER BY rid) || E'\\n' "
        f"FROM page HAVING count(*) > 0 RETURNING n) {_RESULT}"
    )


def initial_state(parts: list[Json]) -> Json:
    return {"parts": [{"after": 0, "file": None, "in_file": 0, "seq": 0, "done": False} for _ in parts],
            "next_file": 1, "count": 0}


def progress(job: store.Job) -> str:
    state = job.state or initial_state(job.spec.get("parts", []))
    kinds = [p.get("kind", "output") for p in job.spec.get("parts", [])]
    done = sum(1 for p, kind in zip(state.get("parts", []), kinds, strict=False) if p.get("done") and kind == "output")
    return f"{state.get('count', 0):,} resources exported; {done} of {kinds.count('output')} resource types done"


_PRESENT = (  # the types with live rows (a skip scan of the (res_type, rid) index), and those changed since
    "WITH RECURSIVE t AS (SELECT min(res_type) AS rt FROM resource WHERE NOT deleted UNION ALL "
    "SELECT (SELECT min(res_type) FROM resource WHERE NOT deleted AND res_type > t.rt) FROM t "
    "WHERE t.rt IS NOT NULL) "
    "SELECT rt FROM t WHERE rt IS NOT NULL "
    "UNION SELECT DISTINCT res_type FROM resource_history WHERE last_updated > %s")


async def _start(runner: BulkRunner, job: store.Job) -> None:
    """On the first run: mark the types the database holds no row of as done (most of the 146, usually)."""
    parts: list[Json] = job.spec.get("parts", [])
    async with runner.server.pool.connection() as conn, conn.transaction():
        state = await store.lock_own(conn, job.id, runner.owner)
        if state is None:
            raise Lost(job.id)
        if state.get("parts"):
            return
        cur = await conn.execute(_PRESENT, (job.transaction_time,))
        present = {r[0] for r in await cur.fetchall()}
        deleted: set[str] = set()
        if job.spec.get("since"):
            cur = await conn.execute("SELECT DISTINCT res_type FROM resource_history WHERE last_updated > %s "
                                     "AND method = 'DELETE'", (datetime.fromisoformat(job.spec["since"]),))
            deleted = {r[0] for r in await cur.fetchall()}
        state = initial_state(parts)
        for cursor, part in zip(state["parts"], parts, strict=True):
            cursor["done"] = part["type"] not in (deleted if part.get("kind") == "deleted" else present)
        await store.save_state(conn, job.id, state)


async def run(runner: BulkRunner, job: store.Job) -> None:
    parts: list[Json] = job.spec.get("parts", [])
    settings = runner.server.settings
    await _start(runner, job)
    for i, part in enumerate(parts):
        while not await _step(runner, job, i, part):
            if settings.bulk_pause > 0:
                await asyncio.sleep(settings.bulk_pause)
    async with runner.server.pool.connection() as conn, conn.transaction():
        if await store.lock_own(conn, job.id, runner.owner) is None:
            raise Lost(job.id)
        notes = [orjson.dumps({"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "not-supported", "diagnostics": n}]}).decode()
            for n in job.spec.get("notes", [])]
        if notes:  # what a lenient kick-off left out (export.html: one OperationOutcome per parameter)
            await conn.execute("INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, made_by, data) "
                               "VALUES (%s, 0, 0, 'error', 'OperationOutcome', %s, %s, %s) ON CONFLICT DO NOTHING",
                               (job.id, len(notes), runner.owner, "\n".join(notes) + "\n"))
        await store.finish(conn, job.id, runner.owner, settings.bulk_retention)


async def _step(runner: BulkRunner, job: store.Job, i: int, part: Json) -> bool:
    """Write the next part of type ``i``; True when that type is complete."""
    settings = runner.server.settings
    async with runner.server.pool.connection() as conn, conn.transaction():
        state = await store.lock_own(conn, job.id, runner.owner)
        if state is None:
            raise Lost(job.id)
        if not state.get("parts"):
            state = initial_state(job.spec.get("parts", []))
        cursor = state["parts"][i]
        if cursor["done"]:
            return True
        new_file = cursor["file"] is None or cursor["in_file"] >= settings.bulk_file_rows
        file_no = state["next_file"] if new_file else cursor["file"]
        seq = 0 if new_file else cursor["seq"]
        limit = min(settings.bulk_chunk_rows, settings.bulk_file_rows - (0 if new_file else cursor["in_file"]))
        cond = store.decode_cond(part["where"], job.spec.get("patients"))
        t, after, res_type = job.transaction_time, cursor["after"], part["type"]
        if part.get("kind") == "deleted":
            cur = await conn.execute(_deleted_sql(cond.sql), [res_type, t, after, *cond.args, limit, job.id, file_no,
                                                              seq, res_type, runner.owner])
            last_rid, scanned, written = _counts(await cur.fetchone())
        else:
            page = [res_type, after, *cond.args, limit, res_type, t, after, *cond.args, limit, limit, t, t]
            last_rid, scanned, written = await _output(conn, cond.sql, page, [job.id, file_no, seq, res_type,
                                                                              runner.owner])
        if last_rid is not None:
            cursor["after"] = int(last_rid)
        if written:
            if new_file:
                state["next_file"] = file_no + 1
                cursor.update(file=file_no, in_file=0)
            cursor["in_file"] += written
            cursor["seq"] = seq + 1
            state["count"] = state.get("count", 0) + written
        cursor["done"] = scanned < limit
        await store.save_state(conn, job.id, state)
        return bool(cursor["done"])



def _counts(row: Any) -> tuple[int | None, int, int]:
    """(last rid of the page, rows looked at, lines written) from ``_RESULT``."""
    return (row[0], int(row[1]), int(row[2])) if row else (None, 0, 0)


async def _output(conn: Any, where: str, page: list[Any], part: list[Any]) -> tuple[int | None, int, int]:
    """Write the next NDJSON part of a type: joined inside PostgreSQL when this process has no key (so no
    row can be sealed: a sealed one fails the step), opened and joined here when it has one."""
    if crypto.active() is None:
        cur = await conn.execute(_step_sql(where), [*page, *part])
        row = await cur.fetchone()
        if row is not None and row[3] is not None:
            crypto.content_bytes(row[3])  # raises: sealed content and no key in this process
        return _counts(row)
    cur = await conn.execute(_sealed_step_sql(where), page)
    rows = await cur.fetchall()
    lines = [doc for doc in (crypto.content_bytes(r[1]) for r in rows) if doc is not None]
    if lines:
        job_id, file_no, seq, res_type, owner = part
        data = crypto.seal_blob(b"\n".join(lines) + b"\n", f"bulk_part/{job_id}/{file_no}/{seq}")  # the file sealed too
        await conn.execute("INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, made_by, data) "
                           "VALUES (%s, %s, %s, 'output', %s, %s, %s, %s)",
                           (job_id, file_no, seq, res_type, len(lines), owner, data.decode()))
    return (rows[-1][0] if rows else None), len(rows), len(lines)
