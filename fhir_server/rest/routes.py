"""The FHIR RESTful routes (http://hl7.org/fhir/R4/http.html#summary): one handler per URL shape.

Each handler turns the HTTP request into an interaction call (``fhir_server.interactions``) and
the outcome back into a response. Handlers are plain Starlette endpoints: nothing between the
socket and the interaction but routing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from fhir_server.audit import annotate
from fhir_server.bundles.batch import batch
from fhir_server.bundles.entries import parse_etag
from fhir_server.bundles.transaction import transaction
from fhir_server.errors import BadRequest, MethodNotAllowed, UnsupportedMediaType
from fhir_server.fhir.json import now
from fhir_server.interactions import create, delete, history, patch, read, search, update
from fhir_server.interactions.capabilities import capability_statement
from fhir_server.interactions.common import Outcome, check_type
from fhir_server.rest.negotiation import body_kind, decode_body, negotiate, read_body
from fhir_server.rest.operations import invoke
from fhir_server.rest.respond import (
    base_url,
    fhir_response,
    prefer,
    prefer_return,
    shaped,
    version_headers,
    write_response,
)
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession

_READ_ONLY = {"Allow": "GET, HEAD"}  # RFC 9110 §15.5.6: a 405 lists the methods the resource supports


def _server(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


@asynccontextmanager
async def _write(server: Server) -> AsyncIterator[WriteSession]:
    """One database transaction for one write interaction; flushed and committed on success."""
    async with server.pool.connection() as conn, conn.transaction():
        session = WriteSession(conn, server.indexer, now())
        yield session
        await session.flush()
    server.after_commit(session.touched)


async def _body(request: Request, server: Server, *, allow_patch: bool = False) -> tuple[str, Any]:
    kind = body_kind(request, allow_patch=allow_patch)
    raw = await read_body(request, server.settings.max_body_bytes)
    return kind, decode_body(kind, raw)


def _if_match(request: Request) -> int | None:
    return parse_etag(request.headers.get("if-match"), "If-Match")


def _query(request: Request) -> str:
    """The search part of a conditional URL, without the formatting parameters."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")]
    return urlencode(pairs) if pairs else ""


# ---- whole system -------------------------------------------------------------------------------


async def metadata(request: Request) -> Response:
    fmt = negotiate(request)
    mode = request.query_params.get("mode", "full")
    if mode not in ("full", "normative", "terminology"):
        raise BadRequest(f"mode must be full, normative or terminology, not '{mode}'")
    base = base_url(request)
    statement = capability_statement(base)
    if getattr(request.app.state, "auth", None) is not None:
        request.app.state.auth.describe(statement, base)
    return fhir_response(statement, fmt)


async def system(request: Request) -> Response:
    """GET / (system search) or POST / with a batch or transaction Bundle."""
    server = _server(request)
    fmt = negotiate(request)
    if request.method == "GET":
        async with server.reader.connection() as conn:
            bundle = await search.system_search(server, conn, base_url(request),
                                                list(request.query_params.multi_items()), prefer(request))
        return fhir_response(bundle, fmt)
    _, bundle = await _body(request, server)
    if bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base expects a Bundle of type batch or transaction")
    kind = bundle.get("type")
    annotate(bundle=kind if isinstance(kind, str) else None)  # the audit subtype: batch or transaction
    base = base_url(request)
    ret = prefer_return(request, default="minimal")
    if kind == "transaction":
        return fhir_response(await transaction(server, base, bundle, ret), fmt)
    if kind == "batch":
        return fhir_response(await batch(server, base, bundle, ret), fmt)
    raise BadRequest(f"Bundle.type must be batch or transaction to be processed, not '{kind}'")


async def system_history(request: Request) -> Response:
    return await _history(request, None, None)


# ---- type level ---------------------------------------------------------------------------------


async def type_level(request: Request) -> Response:
    server = _server(request)
    fmt = negotiate(request)
    res_type = request.path_params["type"]
    if res_type.startswith("$"):
        return await invoke(request, "system", None, None, res_type[1:])
    if res_type in ("metadata", "_history"):
        raise MethodNotAllowed(f"{request.method} is not allowed on /{res_type}", headers=_READ_ONLY)
    check_type(res_type)
    base = base_url(request)
    if request.method == "GET":
        return await _search(request, res_type)
    if request.method == "POST":
        _, resource = await _body(request, server)
        async with _write(server) as session:
            outcome = await create.create(
                server, session, res_type, resource, request.headers.get("if-none-exist")
            )
        return write_response(request, outcome, fmt, prefer_return(request), base)
    query = _query(request)
    if not query:
        raise MethodNotAllowed(
            f"{request.method} on [type] needs search parameters (a conditional {request.method.lower()})",
            headers={"Allow": "GET, HEAD, POST"})
    if request.method == "PUT":
        _, resource = await _body(request, server)
        async with _write(server) as session:
            outcome = await update.conditional_update(server, session, res_type, query, resource, _if_match(request))
        return write_response(request, outcome, fmt, prefer_return(request), base)
    if request.method == "DELETE":
        async with _write(server) as session:
            outcome = await delete.conditional_delete(server, session, res_type, query)
        return write_response(request, outcome, fmt, prefer_return(request), base)
    kind, body = await _body(request, server, allow_patch=True)
    async with _write(server) as session:
        outcome = await patch.conditional_patch(server, session, res_type, query, _patch_kind(kind), body,
                                                _if_match(request))
    return write_response(request, outcome, fmt, prefer_return(request), base)


def _patch_kind(kind: str) -> str:
    return "json-patch" if kind == "json-patch" else "fhirpath"


async def type_search_post(request: Request) -> Response:
    return await _search(request, request.path_params["type"])


async def type_history(request: Request) -> Response:
    return await _history(request, request.path_params["type"], None)


async def _search(request: Request, res_type: str) -> Response:
    server = _server(request)
    fmt = negotiate(request)
    check_type(res_type)
    params = list(request.query_params.multi_items())
    if request.method == "POST":
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
        body = await read_body(request, server.settings.max_body_bytes)
        try:
            params += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise BadRequest("The POST _search body is not UTF-8 form data") from exc
    async with server.reader.connection() as conn:
        bundle = await search.search(server, conn, base_url(request), res_type, params, prefer(request))
    return fhir_response(bundle, fmt)


async def _history(request: Request, res_type: str | None, res_id: str | None) -> Response:
    server = _server(request)
    fmt = negotiate(request)
    settings = server.settings
    async with server.reader.connection() as conn:
        bundle = await history.history(
            conn, base_url(request), list(request.query_params.multi_items()), res_type, res_id,
            settings.default_page_size, settings.max_page_size,
        )
    return fhir_response(bundle, fmt)


# ---- instance level -----------------------------------------------------------------------------


def _not_modified(request: Request, outcome: Outcome) -> bool:
    """If-None-Match, else If-Modified-Since (RFC 9110 §13.1.3: ignored when If-None-Match is sent;
    R4 http.html#cread: servers SHOULD support both)."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        if outcome.etag is None:
            return False
        tags = {t.strip() for t in inm.split(",")}
        return outcome.etag in tags or outcome.etag[2:] in tags or "*" in tags
    ims = request.headers.get("if-modified-since")
    if ims is None or outcome.last_updated is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        return False
    return outcome.last_updated.replace(microsecond=0) <= since


async def instance(request: Request) -> Response:
    server = _server(request)
    fmt = negotiate(request)
    res_type, res_id = request.path_params["type"], request.path_params["id"]
    if res_id.startswith("$"):
        return await invoke(request, "type", res_type, None, res_id[1:])
    if request.method == "POST":
        raise MethodNotAllowed(f"POST is not allowed on {res_type}/{res_id} (use PUT to update)",
                               headers={"Allow": "GET, HEAD, PUT, DELETE, PATCH"})
    base = base_url(request)
    if request.method in ("GET", "HEAD"):
        async with server.reader.connection() as conn:
            outcome = await read.read(conn, res_type, res_id)
        headers = version_headers(outcome, base)
        if _not_modified(request, outcome):
            return Response(status_code=304, headers=headers)
        assert outcome.raw is not None
        return fhir_response(shaped(request, outcome.raw), fmt, 200, headers)
    if request.method == "PUT":
        _, resource = await _body(request, server)
        async with _write(server) as session:
            outcome = await update.update(server, session, res_type, res_id, resource, _if_match(request))
        return write_response(request, outcome, fmt, prefer_return(request), base)
    if request.method == "DELETE":
        async with _write(server) as session:
            outcome = await delete.delete(session, res_type, res_id, _if_match(request))
        return write_response(request, outcome, fmt, prefer_return(request), base)
    kind, body = await _body(request, server, allow_patch=True)
    async with _write(server) as session:
        outcome = await patch.patch(server, session, res_type, res_id, _patch_kind(kind), body, _if_match(request))
    return write_response(request, outcome, fmt, prefer_return(request), base)


async def instance_history(request: Request) -> Response:
    return await _history(request, request.path_params["type"], request.path_params["id"])


async def compartment(request: Request) -> Response:
    """GET [compartment type]/[id]/[type]: search inside a compartment."""
    p = request.path_params
    if p["ctype"].startswith("$"):
        return await invoke(request, "instance", p["type"], p["id"], p["ctype"][1:])
    if request.method != "GET":
        raise MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}", headers=_READ_ONLY)
    server = _server(request)
    fmt = negotiate(request)
    async with server.reader.connection() as conn:
        bundle = await search.compartment_search(server, conn, base_url(request), p["type"], p["id"], p["ctype"],
                                                 list(request.query_params.multi_items()), prefer(request))
    return fhir_response(bundle, fmt)


async def vread(request: Request) -> Response:
    server = _server(request)
    fmt = negotiate(request)
    p = request.path_params
    async with server.reader.connection() as conn:
        outcome = await read.vread(conn, p["type"], p["id"], p["vid"])
    assert outcome.raw is not None
    return fhir_response(shaped(request, outcome.raw), fmt, 200, version_headers(outcome, base_url(request)))


async def websocket(ws: WebSocket) -> None:
    """The R4 subscription websocket channel (bind-with-id)."""
    await ws.app.state.subscriptions.hub.serve(ws)


ROUTES = [
    WebSocketRoute("/websocket", websocket),
    Route("/metadata", metadata, methods=["GET"]),
    Route("/", system, methods=["GET", "POST"]),
    Route("/_history", system_history, methods=["GET"]),
    Route("/{type}", type_level, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    Route("/{type}/_search", type_search_post, methods=["POST"]),
    Route("/{type}/_history", type_history, methods=["GET"]),
    Route("/{type}/{id}", instance, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    Route("/{type}/{id}/_history", instance_history, methods=["GET"]),
    Route("/{type}/{id}/_history/{vid}", vread, methods=["GET"]),
    Route("/{type}/{id}/{ctype}", compartment, methods=["GET", "POST"]),
]
