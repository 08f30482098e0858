"""Bulk import kick-off (the FHIR Asynchronous Request Pattern, http://hl7.org/fhir/R4/async.html, with the
``$import`` Parameters of the Bulk Data import proposal): NDJSON by URL, or uploaded as the request body.

``POST [base]/$import`` with a Parameters body names the inputs (``input.url``, optionally
``input.type``); the job fetches them. ``POST [base]/$import`` with ``Content-Type:
application/fhir+ndjson`` carries the data itself: it is stored in chunks of whole lines as it
arrives (memory stays flat), in the job's own transaction, before the 202.

The caller must be allowed to create and update, without a patient or query restriction, the
types it imports (``system/*.cu`` for example): the job runs after the token is gone, so the types
it may write are kept in the job; lines of other types are reported as errors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from extensions.bulk import store
from extensions.bulk.chunks import ChunkWriter
from extensions.bulk.common import NDJSON_TYPES, accepted, caller, prefer_flags, wake
from extensions.bulk.definitions import IMPORT, IMPORT_PARAMS
from fhir_server import access, definitions
from fhir_server.errors import BadRequest, Forbidden, PayloadTooLarge
from fhir_server.fhir.json import now
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.rest.respond import base_url

Json = dict[str, Any]


def writable_types() -> list[str]:
    """The types the caller may create and update everywhere (no compartment or query restriction)."""
    acc = access.current()
    every = sorted(definitions.resource_types())
    if not acc.restricted:
        return every
    both = set(acc.types("create", every)) & set(acc.types("update", every))
    out = [t for t in every if t in both and acc.condition("create", t) is None and acc.condition("update", t) is None]
    if not out:
        raise Forbidden("$import needs create and update scopes on the imported types without a patient or query "
                        "restriction (e.g. system/*.cu)", headers=access.SCOPE_HEADER)
    return out


def _inputs(ctx: OperationContext) -> list[Json]:
    out: list[Json] = []
    for raw in ctx.params.raw("input"):
        parts: dict[str, Json] = {}
        for p in raw.get("part") or [] if isinstance(raw, dict) else []:
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                parts[p["name"]] = p
        url = parts.get("url", {}).get("valueUri") or parts.get("url", {}).get("valueUrl")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise BadRequest("Every input needs a part 'url' with an http(s) valueUri")
        prefixes = ctx.server.settings.import_url_prefixes
        if prefixes and not url.startswith(tuple(prefixes)):
            raise Forbidden(f"input url {url} is not under the prefixes this server imports from")
        res_type = parts.get("type", {}).get("valueCode") or parts.get("type", {}).get("valueString")
        if res_type is not None and res_type not in definitions.resource_types():
            raise BadRequest(f"input type '{res_type}' is not an R4 resource type")
        out.append({"url": url, "type": res_type})
    if not out:
        raise BadRequest("$import needs at least one 'input' (with a 'url' part), or an NDJSON request body")
    return out


@operation("import", system=True, affects_state=True, definition=IMPORT)
async def import_by_url(ctx: OperationContext) -> OperationResult:
    if not isinstance(ctx.body, dict) or ctx.body.get("resourceType") != "Parameters":
        raise BadRequest("POST $import takes a Parameters resource, or NDJSON (Content-Type application/fhir+ndjson)")
    _, lenient = prefer_flags(ctx.headers)
    notes = [f"$import has no parameter '{n}'" for n in sorted(ctx.params.names()) if n not in IMPORT_PARAMS]
    if notes and not lenient:
        raise BadRequest("; ".join(notes))
    fmt = ctx.params.str("inputFormat")
    if fmt is not None and fmt.split(";")[0].strip().lower() not in NDJSON_TYPES:
        raise BadRequest(f"inputFormat '{fmt}' is not supported: use application/fhir+ndjson")
    inputs = _inputs(ctx)
    spec = {"types": writable_types(), "inputs": inputs}
    job_id = store.new_id()
    async with ctx.server.pool.connection() as conn:
        await store.create(conn, job_id, "import", caller(), f"{ctx.base}/$import", spec, now(),
                           {"fetched": [False] * len(inputs)})
    wake(ctx.server)
    return accepted(ctx.base, job_id, "Import", notes)


async def import_upload(request: Request) -> OperationResult:
    """``POST [base]/$import`` with an NDJSON body: store it, queue the job."""
    server = request.app.state.server
    declared_type = request.query_params.get("type")
    if declared_type is not None and declared_type not in definitions.resource_types():
        raise BadRequest(f"type '{declared_type}' is not an R4 resource type")
    spec = {"types": writable_types(), "inputs": [{"url": None, "type": declared_type}]}
    limit = server.settings.import_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is {int(declared):,} bytes; the limit is {limit:,}")
    base = base_url(request)
    job_id = store.new_id()
    async with server.pool.connection() as conn, conn.transaction():
        await store.create(conn, job_id, "import", caller(), f"{base}/$import", spec, now(), {"fetched": [True]})
        writer = ChunkWriter(conn, job_id, 0, 0, server.settings.max_body_bytes)
        async for piece in request.stream():
            if writer.size + len(piece) > limit:
                raise PayloadTooLarge(f"The upload exceeds the limit of {limit:,} bytes")
            await writer.feed(piece)
        await writer.feed(b"", final=True)
        if writer.seq == 0:
            raise BadRequest("The NDJSON body is empty")
    wake(server)
    return accepted(base, job_id, "Import")
