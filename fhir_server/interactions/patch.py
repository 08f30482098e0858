"""patch and conditional patch (http://hl7.org/fhir/R4/http.html#patch): JSON Patch and FHIRPath Patch."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from fhir_server import access
from fhir_server.errors import BadRequest, NotFound, PreconditionFailed, Unprocessable
from fhir_server.fhir import jsonpatch
from fhir_server.interactions.common import Json, Outcome, check_id, check_type
from fhir_server.interactions.create import condition_key
from fhir_server.interactions.update import update
from fhir_server.state import Server
from fhir_server.storage import repository
from fhir_server.storage.writes import WriteSession


def apply_patch(current: Json, kind: str, patch: Any) -> Json:
    """The patched resource; ``kind`` is ``json-patch`` or ``fhirpath`` (a Parameters resource)."""
    if kind == "json-patch":
        try:
            result = jsonpatch.apply(current, patch)
        except jsonpatch.PatchError as exc:
            raise BadRequest(f"Invalid JSON Patch: {exc}") from exc
        except jsonpatch.PatchConflict as exc:
            raise Unprocessable(f"The JSON Patch cannot be applied: {exc}") from exc
    else:
        result = _fhirpath_patch(current, patch)
    if not isinstance(result, dict):
        raise Unprocessable("The patch must leave a resource (a JSON object)")
    return result


def _fhirpath_patch(current: Json, patch: Any) -> Json:
    if not isinstance(patch, dict) or patch.get("resourceType") != "Parameters":
        raise BadRequest("A FHIRPath Patch must be a Parameters resource (or send application/json-patch+json)")
    from fhir_server.fhirpath import patch as fhirpath_patch

    try:
        return fhirpath_patch.apply_patch(current, patch)
    except fhirpath_patch.PatchFormatError as exc:
        raise BadRequest(f"Invalid FHIRPath Patch: {exc}") from exc
    except fhirpath_patch.PatchError as exc:
        raise Unprocessable(f"The FHIRPath Patch cannot be applied: {exc}") from exc


async def patch(
    server: Server,
    session: WriteSession,
    res_type: str,
    res_id: str,
    kind: str,
    body: Any,
    if_match: int | None = None,
) -> Outcome:
    check_type(res_type)
    check_id(res_id)
    access.require("patch", res_type)
    locked = await session.require_live(res_type, res_id)
    if if_match is not None and locked.version != if_match:
        raise PreconditionFailed(f"If-Match W/\"{if_match}\" failed: {res_type}/{res_id} is at {locked.version}")
    row = await repository.read(session.conn, res_type, res_id)
    if row is None or row.content is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    current: Json = orjson.loads(row.content)
    access.check("patch", res_type, current, f"{res_type}/{res_id}")
    if kind == "json-patch":
        patched = apply_patch(current, kind, body)
    else:
        # a client's FHIRPath can take up to the engine's limits (seconds): off the event loop
        patched = await asyncio.to_thread(apply_patch, current, kind, body)
    if patched.get("resourceType") != res_type or patched.get("id") != res_id:
        raise Unprocessable("A patch may not change the resourceType or the id")
    if patched == orjson.loads(row.content):
        # http.html#update: an update that changes nothing need not make a version (nor does HAPI's)
        return Outcome(200, raw=row.content, version=row.version, last_updated=row.last_updated,
                       location=f"{res_type}/{res_id}/_history/{row.version}",
                       issues=[{"severity": "information", "code": "informational",
                                "diagnostics": "The patch changes nothing: no new version was made"}])
    outcome = await update(server, session, res_type, res_id, patched, method="PATCH")
    outcome.status = 200
    return outcome


async def conditional_patch(
    server: Server, session: WriteSession, res_type: str, query: str, kind: str, body: Any,
    if_match: int | None = None,
) -> Outcome:
    check_type(res_type)
    access.require("patch", res_type)
    await session.lock_key(condition_key(res_type, query))
    ids = await server.find_ids(session.conn, res_type, query, limit=2)
    if len(ids) > 1:
        raise PreconditionFailed(f"The condition '{query}' matches more than one {res_type}")
    if not ids:
        raise NotFound(f"No {res_type} matches '{query}'")
    return await patch(server, session, res_type, ids[0], kind, body, if_match)
