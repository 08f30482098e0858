"""batch (http://hl7.org/fhir/R4/http.html#transaction): every entry on its own, each with its own answer."""

from __future__ import annotations

import logging

from fhir_server.bundles.entries import ORDER, EntryRequest, entry_list, parse_entry
from fhir_server.bundles.execute import error_entry, execute_read, execute_write, response_entry
from fhir_server.errors import FhirError, InternalError, unstorable_input
from fhir_server.fhir.bundle import new_bundle
from fhir_server.fhir.json import now
from fhir_server.interactions.common import Json
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession

log = logging.getLogger(__name__)


async def _one(server: Server, base: str, req: EntryRequest, prefer: str) -> Json:
    try:
        async with server.pool.connection() as conn:
            if req.method in ("GET", "HEAD"):
                outcome = await execute_read(server, conn, base, req)
            else:
                async with conn.transaction():
                    session = WriteSession(conn, server.indexer, now())
                    outcome = await execute_write(server, session, req)
                    await session.flush()
                server.after_commit(session.touched)
    except FhirError as exc:
        return error_entry(exc)
    except Exception as exc:
        # The entry ran in its own database transaction, rolled back on the way out: nothing of it stays.
        refused = unstorable_input(exc)
        if refused is not None:
            return error_entry(refused)
        log.exception("unexpected error in %s (%s %s)", req.where, req.method, req.url)
        return error_entry(InternalError(f"{req.where}: internal server error ({type(exc).__name__})"))
    return response_entry(outcome, base, prefer, req.res_type)


async def batch(server: Server, base: str, bundle: Json, prefer: str) -> Json:
    """Entries run in R4 order (DELETE, POST, PUT/PATCH, GET); answers come back in request order."""
    answers: dict[int, Json] = {}
    requests: list[EntryRequest] = []
    for i, entry in enumerate(entry_list(bundle)):
        try:
            requests.append(parse_entry(i, entry, base))
        except FhirError as exc:
            answers[i] = error_entry(exc)
    for req in sorted(requests, key=lambda r: (ORDER[r.method], r.index)):
        answers[req.index] = await _one(server, base, req, prefer)
    out = new_bundle("batch-response")
    out["entry"] = [answers[i] for i in sorted(answers)]
    return out
