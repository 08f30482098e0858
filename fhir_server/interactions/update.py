"""update, update-as-create and conditional update (http://hl7.org/fhir/R4/http.html#update, #cond-update)."""

from __future__ import annotations

from fhir_server import access, hooks
from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.interactions.common import (
    Json,
    Outcome,
    check_body,
    check_id,
    check_type,
    from_written,
    guard_write,
)
from fhir_server.interactions.create import condition_key
from fhir_server.state import Server
from fhir_server.storage import repository
from fhir_server.storage.writes import WriteSession, new_id


async def check_existing(session: WriteSession, interaction: str, res_type: str, res_id: str) -> None:
    """403 unless the caller may change the current version of the resource (when there is one)."""
    if not access.current().restricted:
        return
    row = await repository.read(session.conn, res_type, res_id)
    if row is not None and not row.deleted:
        access.check(interaction, res_type, row.content, f"{res_type}/{res_id}")


async def update(
    server: Server,
    session: WriteSession,
    res_type: str,
    res_id: str,
    resource: Json,
    if_match: int | None = None,
    method: str = "PUT",
) -> Outcome:
    check_type(res_type)
    check_id(res_id)
    interaction = "patch" if method == "PATCH" else "update"
    access.require(interaction, res_type)
    check_body(res_type, resource, server.validate, url_id=res_id)
    resource = hooks.before_write(server, res_type, resource)
    await check_existing(session, interaction, res_type, res_id)
    access.check(interaction, res_type, resource, f"the new content of {res_type}/{res_id}")
    written = await session.stage_update(res_type, res_id, resource, if_match, method)
    await guard_write(session, written)
    if written.created:
        return from_written(written, 201, f"Created {res_type}/{res_id}")
    return from_written(written, 200, f"Updated {res_type}/{res_id} to version {written.version}")


async def conditional_update(
    server: Server,
    session: WriteSession,
    res_type: str,
    query: str,
    resource: Json,
    if_match: int | None = None,
) -> Outcome:
    """PUT [type]?[search]: 0 matches → create, 1 → update it, more → 412."""
    check_type(res_type)
    access.require("update", res_type)
    await session.lock_key(condition_key(res_type, query))
    ids = await server.find_ids(session.conn, res_type, query, limit=2)
    if len(ids) > 1:
        raise PreconditionFailed(f"The condition '{query}' matches more than one {res_type}")
    body_id = resource.get("id")
    if ids:
        if body_id is not None and body_id != ids[0]:
            raise BadRequest(
                f"The body id '{body_id}' differs from {res_type}/{ids[0]}, the resource matching '{query}'"
            )
        target = ids[0]
    else:
        target = body_id if isinstance(body_id, str) else new_id()
    resource = {**resource, "id": target}
    return await update(server, session, res_type, target, resource, if_match)
