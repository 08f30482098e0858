"""``[base]/$reindex`` and ``[base]/[type]/$reindex``: rebuild the search indexes of stored resources.

Needed after a custom SearchParameter is added (its values exist only for resources written after
it) or after an upgrade that changes how values are indexed. Answers Parameters with ``count``, the
number of resources re-indexed. Only a caller allowed to update every type concerned may run it.
"""

from __future__ import annotations

from fhir_server import access, definitions
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.search.reindex import reindex_operation

DEFINITION = {
    "resourceType": "OperationDefinition",
    "url": "urn:fhir-server:OperationDefinition:reindex",
    "name": "Reindex",
    "status": "active",
    "kind": "operation",
    "code": "reindex",
    "system": True,
    "type": True,
    "instance": False,
    "affectsState": True,
    "parameter": [
        {"name": "type", "use": "in", "min": 0, "max": "1", "type": "string",
         "documentation": "Comma-separated resource types (system level only); all types when absent"},
        {"name": "count", "use": "out", "min": 1, "max": "1", "type": "integer"},
    ],
}


@operation("reindex", system=True, type=True, affects_state=True, definition=DEFINITION)
async def reindex(ctx: OperationContext) -> OperationResult:
    pairs = [(n, v) for n, v in ctx.params.pairs if isinstance(v, str)]
    types = [ctx.res_type] if ctx.res_type else sorted(definitions.resource_types())
    for t in types:
        access.require("update", t)
    return OperationResult(resource=await reindex_operation(ctx.server, ctx.res_type, pairs))
