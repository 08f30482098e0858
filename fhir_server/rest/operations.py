"""Invoking an operation over HTTP (http://hl7.org/fhir/R4/operations.html#executing): ``[base]/$x``,
``[base]/[type]/$x``, ``[base]/[type]/[id]/$x`` with GET (simple parameters) or POST (a Parameters body)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fhir_server import access, operations
from fhir_server.errors import Gone, InvalidValue, NotFound
from fhir_server.fhir.json import CONTROL_CHARS
from fhir_server.interactions.common import check_id, check_type
from fhir_server.operations import OperationContext
from fhir_server.rest.negotiation import body_kind, decode_body, negotiate, read_body
from fhir_server.rest.respond import base_url, fhir_response
from fhir_server.state import Server
from fhir_server.storage import repository


async def invoke(request: Request, level: str, res_type: str | None, res_id: str | None, name: str) -> Response:
    server: Server = request.app.state.server
    fmt = negotiate(request)
    if res_type is not None:
        check_type(res_type)
    op = operations.find(name, level, res_type)
    operations.check_method(op, request.method)
    _require(level, res_type, op.affects_state)
    if res_id is not None:
        check_id(res_id)
        async with server.pool.connection() as conn:
            row = await repository.read(conn, res_type or "", res_id)
        if row is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        if row.deleted:
            raise Gone(f"{res_type}/{res_id} has been deleted")
        access.check("read", res_type or "", row.content, f"{res_type}/{res_id}")
    body = None
    if request.method == "POST":
        kind = body_kind(request)
        raw = await read_body(request, server.settings.max_body_bytes)
        body = decode_body(kind, raw) if raw.strip() else None
        operations.check_body(op, body)
    query = list(request.query_params.multi_items())
    for key, value in query:
        if CONTROL_CHARS.search(key) or CONTROL_CHARS.search(value):
            raise InvalidValue(f"The URL parameter {key!r} holds a control character (below U+0020)",
                               expression=[key] if key.isprintable() else None)
    ctx = OperationContext(
        server=server,
        base=base_url(request),
        method=request.method,
        level=level,
        res_type=res_type,
        res_id=res_id,
        params=operations.parameters_from(request.method, query, body),
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        access=access.current(),
    )
    result = await op.handler(ctx)
    if result.body is not None:
        return Response(result.body, result.status, headers=result.headers, media_type=result.media_type)
    if result.resource is None:
        return Response(status_code=result.status, headers=result.headers)
    return fhir_response(result.resource, fmt, result.status, result.headers)


def _require(level: str, res_type: str | None, affects_state: bool) -> None:
    """An operation needs read (instance) or search (type, system) access to what it runs on. What it
    writes is checked where it writes — the create/update interactions check each resource — so an
    operation that records, say, a Communication needs create on Communication, not update on the
    Patient it runs on (``affects_state`` only decides GET vs POST)."""
    access.require("read" if level == "instance" else "search-type" if level == "type" else "search-system",
                   res_type)
