"""delete and conditional delete (http://hl7.org/fhir/R4/http.html#delete, #cdelete)."""

from __future__ import annotations

from fhir_server import access
from fhir_server.errors import PreconditionFailed
from fhir_server.interactions.common import Outcome, check_id, check_type, guard_write
from fhir_server.interactions.create import condition_key
from fhir_server.interactions.update import check_existing
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession


async def delete(session: WriteSession, res_type: str, res_id: str, if_match: int | None = None) -> Outcome:
    """Delete; deleting what is absent or already deleted succeeds too (R4 allows 200/204 for both)."""
    check_type(res_type)
    check_id(res_id)
    access.require("delete", res_type)
    await check_existing(session, "delete", res_type, res_id)
    written = await session.stage_delete(res_type, res_id, if_match)
    if written is None:
        msg = f"{res_type}/{res_id} did not exist or was already deleted; nothing to do"
        return Outcome(204, issues=[{"severity": "information", "code": "not-found", "diagnostics": msg}])
    await guard_write(session, written)
    return Outcome(
        204,
        version=written.version,
        last_updated=written.last_updated,
        issues=[{"severity": "information", "code": "informational",
                 "diagnostics": f"Deleted {res_type}/{res_id} (version {written.version})"}],
    )


async def conditional_delete(server: Server, session: WriteSession, res_type: str, query: str) -> Outcome:
    """DELETE [type]?[search]: 0 matches → nothing, 1 → delete it, more → 412 (single-match deletes)."""
    check_type(res_type)
    access.require("delete", res_type)
    await session.lock_key(condition_key(res_type, query))
    ids = await server.find_ids(session.conn, res_type, query, limit=2)
    if len(ids) > 1:
        raise PreconditionFailed(f"The condition '{query}' matches more than one {res_type}; nothing deleted")
    if not ids:
        msg = f"No {res_type} matches '{query}'; nothing to delete"
        return Outcome(204, issues=[{"severity": "information", "code": "not-found", "diagnostics": msg}])
    return await delete(session, res_type, ids[0])
