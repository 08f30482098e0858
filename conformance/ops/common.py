"""Helpers shared by the conformance operations (http://hl7.org/fhir/R4/operations.html#executing)."""

from __future__ import annotations

from typing import Any

import orjson

from conformance.server import registry_for
from conformance.validation import Registry
from fhir_server.errors import NotFound
from fhir_server.operations import OperationContext
from fhir_server.storage import repository

Json = dict[str, Any]


async def stored(ctx: OperationContext) -> Json | None:
    """The resource an instance-level invocation names (the framework has checked it exists)."""
    if ctx.res_id is None or ctx.res_type is None:
        return None
    async with ctx.server.pool.connection() as conn:
        row = await repository.read(conn, ctx.res_type, ctx.res_id)
    if row is None or row.content is None:
        raise NotFound(f"{ctx.res_type}/{ctx.res_id} is not known")
    data: Json = orjson.loads(row.content)
    return data


def registry(ctx: OperationContext) -> Registry:
    return registry_for(ctx.server)
