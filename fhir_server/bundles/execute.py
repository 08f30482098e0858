"""Running one Bundle entry as the interaction its request names (http://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from fhir_server.bundles.entries import EntryRequest
from fhir_server.errors import BadRequest, FhirError, MethodNotAllowed
from fhir_server.fhir.bundle import status_line
from fhir_server.fhir.json import instant
from fhir_server.interactions import create, delete, history, patch, read, update
from fhir_server.interactions.common import Json, Outcome
from fhir_server.state import Server
from fhir_server.storage.repository import Conn
from fhir_server.storage.writes import WriteSession


async def execute_write(server: Server, session: WriteSession, req: EntryRequest) -> Outcome:
    """POST, PUT, PATCH or DELETE of one entry, staged on ``session``."""
    path, res_type = req.path, req.path[0]
    if res_type.startswith("$") or (len(path) > 1 and path[-1].startswith("$")):
        raise MethodNotAllowed(f"{req.where}: operations are not supported inside a batch or transaction")
    if req.method == "POST":
        if len(path) != 1:
            raise BadRequest(f"{req.where}: POST must go to [type], not '{req.url}'")
        assert req.resource is not None
        return await create.create(server, session, res_type, req.resource, req.if_none_exist, req.target_id)
    if req.method == "PUT":
        assert req.resource is not None
        if len(path) == 2:
            return await update.update(server, session, res_type, path[1], req.resource, req.if_match)
        if len(path) == 1 and req.query:
            if req.target_id is not None:
                resource = {**req.resource, "id": req.target_id}
                return await update.update(server, session, res_type, req.target_id, resource, req.if_match)
            return await update.conditional_update(server, session, res_type, req.query, req.resource, req.if_match)
        raise BadRequest(f"{req.where}: PUT must go to [type]/[id] or [type]?[search], not '{req.url}'")
    if req.method == "PATCH":
        if len(path) == 2:
            return await patch.patch(server, session, res_type, path[1], req.patch_kind or "", req.patch_body,
                                     req.if_match)
        if len(path) == 1 and req.query:
            return await patch.conditional_patch(server, session, res_type, req.query, req.patch_kind or "",
                                                 req.patch_body, req.if_match)
        raise BadRequest(f"{req.where}: PATCH must go to [type]/[id] or [type]?[search]")
    if req.method == "DELETE":
        if len(path) == 2:
            return await delete.delete(session, res_type, path[1], req.if_match)
        if len(path) == 1 and req.query:
            return await delete.conditional_delete(server, session, res_type, req.query)
        raise BadRequest(f"{req.where}: DELETE must go to [type]/[id] or [type]?[search]")
    raise BadRequest(f"{req.where}: unexpected method {req.method}")


async def execute_read(server: Server, conn: Conn, base: str, req: EntryRequest) -> Outcome:
    """GET/HEAD of one entry: read, vread or history."""
    path = req.path
    params = _params(req.query)
    settings = server.settings
    if len(path) == 2 and not path[1].startswith("_") and not path[1].startswith("$"):
        return await read.read(conn, path[0], path[1])
    if len(path) == 4 and path[2] == "_history":
        return await read.vread(conn, path[0], path[1], path[3])
    if path[-1] == "_history" and len(path) <= 3:
        res_type = path[0] if len(path) >= 2 else None
        res_id = path[1] if len(path) == 3 else None
        bundle = await history.history(conn, base, params, res_type, res_id,
                                       settings.default_page_size, settings.max_page_size)
        return Outcome(200, resource=bundle)
    if len(path) == 1 or (len(path) == 2 and path[1] == "_search"):
        from fhir_server.interactions import search

        bundle = await search.search(server, conn, base, path[0], params)
        return Outcome(200, resource=bundle)
    raise BadRequest(f"{req.where}: GET '{req.url}' is not a supported interaction in a bundle")


def _params(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def response_entry(outcome: Outcome, base: str, prefer: str, res_type: str | None) -> Json:
    """The ``entry`` of a batch/transaction-response for a successful entry."""
    response: Json = {"status": status_line(outcome.status)}
    if outcome.location:
        response["location"] = outcome.location
    if outcome.etag:
        response["etag"] = outcome.etag
    if outcome.last_updated is not None:
        response["lastModified"] = instant(outcome.last_updated)
    entry: Json = {}
    body: Any = outcome.resource
    if body is None and outcome.raw is not None:
        body = orjson.Fragment(outcome.raw)
    if outcome.location and res_type:
        entry["fullUrl"] = f"{base}/{outcome.location.split('/_history/')[0]}"
    read_like = outcome.location is None
    if body is not None and (prefer == "representation" or read_like):
        entry["resource"] = body
    if prefer == "OperationOutcome" and outcome.issues:
        response["outcome"] = {"resourceType": "OperationOutcome", "issue": outcome.issues}
    entry["response"] = response
    return entry


def error_entry(exc: FhirError) -> Json:
    return {"response": {"status": str(exc.status), "outcome": exc.outcome()}}
