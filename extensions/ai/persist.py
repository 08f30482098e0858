"""create (http://hl7.org/fhir/R4/http.html#create): the AI operations' writes, all in one database transaction.

Each resource goes through the create interaction (validation, hooks, index rows, outbox), so an
operation's output is stored exactly as a client's POST would store it. Nothing is written unless
everything is: the operations call this only after the model has answered.
"""

from __future__ import annotations

from typing import Any

from fhir_server.fhir.json import now
from fhir_server.interactions.create import create
from fhir_server.storage.writes import WriteSession

Json = dict[str, Any]


async def create_all(server: Any, resources: list[tuple[str, Json]]) -> list[Json]:
    """Create ``(type, resource)`` pairs under the ids they carry; the stored resources, in order."""
    stored: list[Json] = []
    async with server.pool.connection() as conn, conn.transaction():
        session = WriteSession(conn, server.indexer, now())
        for res_type, resource in resources:
            outcome = await create(server, session, res_type, resource, assigned_id=str(resource["id"]))
            assert outcome.resource is not None
            stored.append(outcome.resource)
        await session.flush()
    server.after_commit(session.touched)
    return stored
