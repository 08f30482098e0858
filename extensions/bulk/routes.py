"""Bulk Data status, delete and output file requests (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-
status-request, #bulk-data-delete-request, #bulk-data-output-file-request), and the NDJSON upload of ``$import``.

- ``GET [base]/bulk/[job]``: 202 with ``X-Progress`` and ``Retry-After`` while the job runs; 200
  with the manifest (``application/json``, ``Expires``) when it is done; the job's error status
  with an OperationOutcome when it failed; 404 once deleted or expired.
- ``DELETE [base]/bulk/[job]``: cancels (or, when done, removes the files); 202.
- ``GET [base]/bulk/[job]/[n].ndjson``: file ``n``, streamed part by part from PostgreSQL.

All answer only to the client that started the job, with an access token (``requiresAccessToken``
when authorization is on); an output file also needs a token that may search its resource type
with no narrower reach than the one that started the export.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from extensions.bulk import export_run, store
from extensions.bulk.common import check_caller, file_url
from extensions.bulk.import_op import import_upload
from fhir_server import access
from fhir_server.errors import FhirError, Forbidden, NotFound, operation_outcome
from fhir_server.fhir.json import dumps, http_date, instant
from fhir_server.rest.negotiation import negotiate
from fhir_server.rest.operations import invoke
from fhir_server.rest.respond import base_url, fhir_response
from fhir_server.storage.crypto import open_blob

Json = dict[str, Any]
RETRY_AFTER = "2"
_FILE = re.compile(r"(\d{1,9})\.ndjson")
_JOB = re.compile(r"[0-9a-f]{32}")


async def _job(request: Request) -> store.Job:
    job_id = request.path_params["job_id"]
    job = None
    if _JOB.fullmatch(job_id):
        async with request.app.state.server.pool.connection() as conn:
            job = await store.get(conn, job_id)
    if job is None:
        raise NotFound(f"No bulk job {job_id} (it may have been deleted or have expired)")
    check_caller(job.client_id)
    return job


async def _progress(request: Request, job: store.Job) -> str:
    if job.kind == "export":
        return export_run.progress(job)
    async with request.app.state.server.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FILTER (WHERE done), count(*), coalesce(sum(ok), 0), "
                                 "coalesce(sum(failed), 0) FROM bulk_input WHERE job_id = %s", (job.id,))
        row = await cur.fetchone()
    done, total, ok, failed = (int(v) for v in row) if row else (0, 0, 0, 0)
    return f"{done} of {total} chunks written: {ok:,} resources imported, {failed:,} failed"


async def _manifest(request: Request, job: store.Job) -> Json:
    base = base_url(request)
    async with request.app.state.server.pool.connection() as conn:
        cur = await conn.execute("SELECT file_no, kind, res_type, sum(n) FROM bulk_part WHERE job_id = %s "
                                 "GROUP BY file_no, kind, res_type ORDER BY file_no", (job.id,))
        files = await cur.fetchall()
    manifest: Json = {"transactionTime": instant(job.transaction_time), "request": job.request,
                      "requiresAccessToken": request.app.state.server.settings.auth_enabled,
                      "output": [], "error": []}
    for file_no, kind, res_type, n in files:
        shown = "Bundle" if kind == "deleted" else res_type  # deleted files: DELETE Bundles of res_type's ids
        manifest.setdefault(kind, []).append({"type": shown, "url": file_url(base, job.id, file_no),
                                              "count": int(n)})
    if job.kind == "import":
        manifest["extension"] = {"urn:fhir-server:bulk:imported": job.state.get("imported", 0),
                                 "urn:fhir-server:bulk:failed": job.state.get("failed", 0)}
    return manifest


async def status(request: Request) -> Response:
    job = await _job(request)
    if request.method == "DELETE":
        async with request.app.state.server.pool.connection() as conn:
            await store.delete(conn, job.id)
        issue = {"severity": "information", "code": "informational",
                 "diagnostics": f"Bulk job {job.id} deleted" + (" (cancelled)" if job.status in ("queued", "running")
                                                                 else " with its files")}
        return fhir_response(operation_outcome([issue]), negotiate(request), 202)
    if job.status in ("queued", "running"):
        text = await _progress(request, job) if job.status == "running" else "queued"
        return Response(status_code=202, headers={"X-Progress": text[:99], "Retry-After": RETRY_AFTER})
    if job.status == "failed":
        error = FhirError(job.error or "The job failed")
        error.status = job.error_status or 500
        return Response(dumps(error.outcome()), error.status, media_type="application/fhir+json; charset=utf-8")
    headers = {"Expires": http_date(job.expires)} if job.expires else {}
    return Response(orjson.dumps(await _manifest(request, job)), 200, headers=headers, media_type="application/json")


def _check_file_access(job: store.Job, res_type: str) -> None:
    """The token must still cover the file's type, reaching no further than the kick-off's token did."""
    acc = access.current()
    if job.kind != "export" or res_type == "OperationOutcome" or not acc.restricted:
        return
    acc.require("search-type", res_type)
    now = access.restriction("search-type", [res_type])
    kept = next((p.get("access") for p in job.spec.get("parts", []) if p.get("type") == res_type), None)
    if now and (kept is None or store.encode_cond(now[0]) != kept):
        raise Forbidden(f"The access token does not cover the {res_type} resources of this file",
                        headers=access.SCOPE_HEADER)


async def download(request: Request) -> Response:
    job = await _job(request)
    m = _FILE.fullmatch(request.path_params["name"])
    if job.status != "done" or m is None:
        raise NotFound(f"No file {request.path_params['name']} in bulk job {job.id}")
    file_no = int(m.group(1))
    server = request.app.state.server
    async with server.pool.connection() as conn:
        cur = await conn.execute("SELECT res_type FROM bulk_part WHERE job_id = %s AND file_no = %s LIMIT 1",
                                 (job.id, file_no))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"No file {file_no}.ndjson in bulk job {job.id}")
    _check_file_access(job, row[0])
    parts = _parts(server, job.id, file_no)
    first = await anext(parts, b"")  # opened before the answer starts: a key missing is an error, not a cut file
    return StreamingResponse(_then(first, parts), media_type="application/fhir+ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{row[0]}-{file_no}.ndjson"'})


async def _then(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for part in rest:
        yield part


async def _parts(server: Any, job_id: str, file_no: int) -> AsyncIterator[bytes]:
    """The file's parts in order, one in memory at a time (each read on a short-lived pooled connection)."""
    seq = -(1 << 30)
    while True:
        async with server.pool.connection() as conn:
            cur = await conn.execute("SELECT seq, data FROM bulk_part WHERE job_id = %s AND file_no = %s AND seq > %s "
                                     "ORDER BY seq LIMIT 1", (job_id, file_no, seq))
            row = await cur.fetchone()
        if row is None:
            return
        seq = row[0]
        yield open_blob(row[1], f"bulk_part/{job_id}/{file_no}/{seq}")  # sealed when encryption at rest is on


async def import_kickoff(request: Request) -> Response:
    """POST [base]/$import: NDJSON bodies are uploads; Parameters go to the operation (inputs by URL)."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in ("application/fhir+ndjson", "application/ndjson", "application/x-ndjson"):
        return await invoke(request, "system", None, None, "import")
    negotiate(request)
    result = await import_upload(request)
    assert result.resource is not None
    return fhir_response(result.resource, negotiate(request), result.status, result.headers)


ROUTES = [
    Route("/$import", import_kickoff, methods=["POST"]),
    Route("/bulk/{job_id}", status, methods=["GET", "DELETE"]),
    Route("/bulk/{job_id}/{name}", download, methods=["GET"]),
]
