"""Running an NDJSON ``$import`` job (asynchronous pattern, http://hl7.org/fhir/R4/async.html): fetch, write, report.

1. Inputs given by URL are fetched (streamed) into ``bulk_input`` chunks; a fetch interrupted by a
   restart starts that input again. An input that cannot be fetched is reported in the error file.
2. The chunks not yet done go to the worker processes (``extensions.bulk.worker``), at most two per
   worker in flight; each writes its chunk in one transaction (``extensions.bulk.ingest``).
3. The manifest's output file gets one OperationOutcome per input (lines, imported, failed); the
   error file holds one OperationOutcome per failed line, written by the workers as they go.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from extensions.bulk import store
from extensions.bulk.chunks import ChunkWriter
from extensions.bulk.export_run import Lost
from fhir_server.errors import PayloadTooLarge

if TYPE_CHECKING:
    from extensions.bulk.runner import BulkRunner

Json = dict[str, Any]
ERROR_FILE, OUTPUT_FILE = 0, 1


def source(spec: Json, input_no: int) -> str:
    inputs = spec.get("inputs") or [{}]
    url = inputs[input_no].get("url") if input_no < len(inputs) else None
    return str(url) if url else "the uploaded NDJSON"


async def run(runner: BulkRunner, job: store.Job) -> None:
    fetched = list(job.state.get("fetched") or [])
    for i, spec_input in enumerate(job.spec.get("inputs", [])):
        if spec_input.get("url") and not (i < len(fetched) and fetched[i]):
            await _fetch(runner, job, i, spec_input["url"])
    await _write(runner, job)
    await _finish(runner, job)


async def _fetch(runner: BulkRunner, job: store.Job, i: int, url: str) -> None:
    server = runner.server
    settings = server.settings
    async with server.pool.connection() as conn:
        await conn.execute("DELETE FROM bulk_input WHERE job_id = %s AND input_no = %s", (job.id, i))
        await conn.execute("DELETE FROM bulk_part WHERE job_id = %s AND file_no = %s AND seq = %s",
                           (job.id, ERROR_FILE, -1 - i))
        cur = await conn.execute("SELECT coalesce(max(seq) + 1, 0) FROM bulk_input WHERE job_id = %s", (job.id,))
        row = await cur.fetchone()
    error: str | None = None
    try:
        async with server.pool.connection() as conn, httpx.AsyncClient(
                timeout=settings.external_timeout, follow_redirects=True) as http, http.stream(
                "GET", url, headers={"Accept": "application/fhir+ndjson"}) as resp:
            if resp.status_code != 200:
                error = f"GET {url} answered HTTP {resp.status_code}"
            else:
                writer = ChunkWriter(conn, job.id, i, int(row[0]) if row else 0, settings.max_body_bytes)
                async for piece in resp.aiter_bytes():
                    if writer.size + len(piece) > settings.import_max_bytes:
                        raise PayloadTooLarge(f"{url} is larger than {settings.import_max_bytes:,} bytes")
                    await writer.feed(piece)
                await writer.feed(b"", final=True)
    except httpx.HTTPError as exc:
        error = f"GET {url} failed: {exc or type(exc).__name__}"
    except PayloadTooLarge as exc:
        error = exc.diagnostics
    async with server.pool.connection() as conn, conn.transaction():
        state = await store.lock_own(conn, job.id, runner.owner)
        if state is None:
            raise Lost(job.id)
        if error is not None:
            await conn.execute("DELETE FROM bulk_input WHERE job_id = %s AND input_no = %s", (job.id, i))
            outcome = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found", "diagnostics": f"Input {i + 1} not imported: {error}"}]}
            await conn.execute(
                "INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, made_by, data) "
                "VALUES (%s, %s, %s, 'error', 'OperationOutcome', 1, %s, %s)",
                (job.id, ERROR_FILE, -1 - i, runner.owner, orjson.dumps(outcome).decode() + "\n"))
        fetched = list(state.get("fetched") or [False] * len(job.spec.get("inputs", [])))
        fetched[i] = True
        await store.save_state(conn, job.id, {**state, "fetched": fetched})


async def _write(runner: BulkRunner, job: store.Job) -> None:
    """Hand the chunks not done to the workers, until none is left (one may have to go again)."""
    from extensions.bulk import worker

    server = runner.server
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(2 * max(1, server.settings.bulk_workers))
    async def one(seq: int) -> None:
        async with gate:
            touched = await loop.run_in_executor(runner.workers.get(), worker.write_chunk, job.id, seq)
        if touched:
            server.after_commit(set(touched))

    runner.workers.users += 1
    try:
        while True:
            async with server.pool.connection() as conn:
                cur = await conn.execute("SELECT seq FROM bulk_input WHERE job_id = %s AND NOT done ORDER BY seq",
                                         (job.id,))
                todo = [r[0] for r in await cur.fetchall()]
            if not todo:
                return
            await asyncio.gather(*(one(s) for s in todo))
    finally:
        runner.workers.users -= 1
        runner.workers.last_used = time.monotonic()


async def _finish(runner: BulkRunner, job: store.Job) -> None:
    async with runner.server.pool.connection() as conn, conn.transaction():
        if await store.lock_own(conn, job.id, runner.owner) is None:
            raise Lost(job.id)
        cur = await conn.execute(
            "SELECT input_no, sum(lines), sum(ok), sum(failed) FROM bulk_input WHERE job_id = %s "
            "GROUP BY input_no ORDER BY input_no", (job.id,))
        rows = await cur.fetchall()
        lines = []
        for input_no, n_lines, ok, failed in rows:
            issue = {"severity": "information", "code": "informational",
                     "diagnostics": f"Input {input_no + 1} ({source(job.spec, input_no)}): {int(n_lines)} lines, "
                                    f"{int(ok)} resources imported, {int(failed)} failed"}
            lines.append(orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).decode())
        if lines:
            await conn.execute(
                "INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, made_by, data) "
                "VALUES (%s, %s, 0, 'output', 'OperationOutcome', %s, %s, %s) ON CONFLICT DO NOTHING",
                (job.id, OUTPUT_FILE, len(lines), runner.owner, "\n".join(lines) + "\n"))
        totals = {"imported": sum(int(r[2]) for r in rows), "failed": sum(int(r[3]) for r in rows)}
        await store.save_state(conn, job.id, {"fetched": [True] * len(job.spec.get("inputs", [])), **totals})
        await conn.execute("DELETE FROM bulk_input WHERE job_id = %s", (job.id,))
        await store.finish(conn, job.id, runner.owner, runner.server.settings.bulk_retention)
