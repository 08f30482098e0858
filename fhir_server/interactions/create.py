"""create and conditional create (http://hl7.org/fhir/R4/http.html#create, #ccreate)."""

from __future__ import annotations

from urllib.parse import urlencode

from fhir_server import access, hooks
from fhir_server.errors import PreconditionFailed
from fhir_server.interactions.common import Json, Outcome, check_body, check_type, from_written, guard_write
from fhir_server.interactions.read import read
from fhir_server.search.conditional import parse_query
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession


def condition_key(res_type: str, query: str) -> str:
    """A canonical form of a condition, so identical conditions take the same lock."""
    return res_type + "?" + urlencode(sorted(parse_query(query)))


async def existing_match(server: Server, session: WriteSession, res_type: str, query: str) -> str | None:
    """The id of the one resource matching ``If-None-Exist``; None when there is none; 412 when several."""
    await session.lock_key(condition_key(res_type, query))
    ids = await server.find_ids(session.conn, res_type, query, limit=2)
    if len(ids) > 1:
        raise PreconditionFailed(f"If-None-Exist '{query}' matches more than one {res_type}")
    return ids[0] if ids else None


async def create(
    server: Server,
    session: WriteSession,
    res_type: str,
    resource: Json,
    if_none_exist: str | None = None,
    assigned_id: str | None = None,
) -> Outcome:
    """Create with a server-assigned id (a client id in the body is ignored, as R4 requires).

    ``assigned_id``: the id a transaction already chose for this entry (its references point there).
    """
    check_type(res_type)
    access.require("create", res_type)
    check_body(res_type, resource, server.validate)
    access.check("create", res_type, resource, f"the new {res_type}")
    if if_none_exist and assigned_id is None:
        found = await existing_match(server, session, res_type, if_none_exist)
        if found is not None:
            outcome = await read(session.conn, res_type, found)
            outcome.location = f"{res_type}/{found}/_history/{outcome.version}"
            outcome.issues = [
                {"severity": "information", "code": "duplicate",
                 "diagnostics": f"If-None-Exist matched {res_type}/{found}; nothing was created"}
            ]
            return outcome
    written = session.stage_create(res_type, hooks.before_write(server, res_type, resource), assigned_id)
    await guard_write(session, written)
    return from_written(written, 201, f"Created {res_type}/{written.id}")
