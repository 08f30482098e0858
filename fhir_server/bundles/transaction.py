"""transaction (http://hl7.org/fhir/R4/http.html#transaction): all entries succeed together or none does.

One database transaction. Identities are settled first (new ids for POST, ``ifNoneExist`` and
conditional PUT matched, ``fullUrl``s mapped), references rewritten everywhere, then entries run
in R4 order — DELETE, POST, PUT/PATCH, GET — and every write is flushed in bulk before commit.
"""

from __future__ import annotations

from fhir_server.bundles import references
from fhir_server.bundles.entries import ORDER, EntryRequest, parse_entries
from fhir_server.bundles.execute import execute_read, execute_write, response_entry
from fhir_server.errors import BadRequest, FhirError, PreconditionFailed
from fhir_server.fhir.bundle import new_bundle
from fhir_server.fhir.json import now
from fhir_server.interactions.common import Json, Outcome, check_type
from fhir_server.interactions.create import condition_key
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession, new_id


async def _settle_identity(
    server: Server, session: WriteSession, req: EntryRequest, mapping: dict[str, str]
) -> None:
    """Decide which resource id each creating/updating entry ends up at, and map its fullUrl there."""
    res_type = req.path[0]
    check_type(res_type)
    if req.method == "POST":
        if req.if_none_exist:
            await session.lock_key(condition_key(res_type, req.if_none_exist))
            ids = await server.find_ids(session.conn, res_type, req.if_none_exist, limit=2)
            if len(ids) > 1:
                raise PreconditionFailed(f"ifNoneExist '{req.if_none_exist}' matches more than one {res_type}")
            if ids:
                req.extra["existing"] = ids[0]
                req.target_id = ids[0]
        if req.target_id is None:
            req.target_id = new_id()
    elif req.method == "PUT" and len(req.path) == 2:
        req.target_id = req.path[1]
    elif req.method == "PUT" and req.query:
        await session.lock_key(condition_key(res_type, req.query))
        ids = await server.find_ids(session.conn, res_type, req.query, limit=2)
        if len(ids) > 1:
            raise PreconditionFailed(f"The condition '{req.query}' matches more than one {res_type}")
        body_id = (req.resource or {}).get("id")
        if ids and body_id is not None and body_id != ids[0]:
            raise BadRequest(f"The body id '{body_id}' differs from {res_type}/{ids[0]} matching '{req.query}'")
        req.target_id = ids[0] if ids else (body_id if isinstance(body_id, str) else new_id())
    else:
        return
    if req.full_url:
        mapping[req.full_url] = f"{res_type}/{req.target_id}"


def _check_full_urls(requests: list[EntryRequest]) -> None:
    """bdl-7 (bundle.html#invs): fullUrl is unique in a Bundle unless the entries' meta.versionId differ."""
    seen: dict[tuple[str, object], EntryRequest] = {}
    for req in requests:
        if not req.full_url:
            continue
        meta = (req.resource or {}).get("meta")
        version = meta.get("versionId") if isinstance(meta, dict) else None
        first = seen.setdefault((req.full_url, version), req)
        if first is not req:
            raise BadRequest(
                f"{req.where} has the fullUrl '{req.full_url}' of {first.where}: a fullUrl must be unique in a "
                "Bundle (bdl-7)", expression=[f"{req.where}.fullUrl"])


async def _claim_identity(
    server: Server, session: WriteSession, req: EntryRequest, claimed: dict[tuple[str, str], EntryRequest]
) -> None:
    """http.html#transaction: if the identities of the DELETE, POST and PUT/PATCH entries (conditional ones
    resolved) overlap, the transaction fails."""
    res_type = req.path[0]
    if req.method in ("GET", "HEAD") or "existing" in req.extra:  # a matched ifNoneExist writes nothing
        return
    if req.target_id is not None:
        ids = [req.target_id]
    elif len(req.path) == 2:
        ids = [req.path[1]]
    elif req.method in ("DELETE", "PATCH") and req.query:
        ids = await server.find_ids(session.conn, res_type, req.query, limit=_CONDITIONAL_CLAIM_LIMIT)
    else:
        return
    for res_id in ids:
        first = claimed.setdefault((res_type, res_id), req)
        if first is not req:
            raise BadRequest(
                f"{req.where} ({req.method}) and {first.where} ({first.method}) both act on {res_type}/{res_id}: "
                "the resource identities of a transaction's entries must not overlap")


_CONDITIONAL_CLAIM_LIMIT = 1000


async def _run_entry(server: Server, session: WriteSession, base: str, req: EntryRequest) -> Outcome:
    if req.method in ("GET", "HEAD"):
        await session.flush()
        return await execute_read(server, session.conn, base, req)
    if "existing" in req.extra:  # ifNoneExist matched: no write, answer with the match
        from fhir_server.interactions.read import read

        outcome = await read(session.conn, req.path[0], req.extra["existing"])
        outcome.location = f"{req.path[0]}/{req.extra['existing']}/_history/{outcome.version}"
        return outcome
    return await execute_write(server, session, req)


async def transaction(server: Server, base: str, bundle: Json, prefer: str) -> Json:
    requests = parse_entries(bundle, base)
    outcomes: dict[int, Outcome] = {}
    current: EntryRequest | None = None
    try:
        async with server.pool.connection() as conn, conn.transaction():
            session = WriteSession(conn, server.indexer, now())
            mapping: dict[str, str] = {}
            _check_full_urls(requests)
            claimed: dict[tuple[str, str], EntryRequest] = {}
            for req in requests:
                current = req
                await _settle_identity(server, session, req, mapping)
                await _claim_identity(server, session, req, claimed)
            current = None
            cond: set[str] = set()
            for req in requests:
                if req.resource is not None:
                    references.rewrite(req.resource, mapping, cond)
            if cond:
                async def find(t: str, q: str) -> list[str]:
                    return await server.find_ids(session.conn, t, q, limit=2)

                resolved = await references.resolve_conditional(cond, find)
                for req in requests:
                    if req.resource is not None:
                        references.rewrite(req.resource, resolved)
            for req in sorted(requests, key=lambda r: (ORDER[r.method], r.index)):
                current = req
                outcomes[req.index] = await _run_entry(server, session, base, req)
            current = None
            await session.flush()
    except FhirError as exc:
        if current is not None:
            exc.diagnostics = f"{current.where} ({current.method} {current.url}): {exc.diagnostics}"
            if exc.extra_issues:
                for issue in exc.extra_issues:
                    issue["diagnostics"] = f"{current.where}: {issue.get('diagnostics', '')}"
        raise
    server.after_commit(session.touched)
    out = new_bundle("transaction-response")
    out["entry"] = [response_entry(outcomes[r.index], base, prefer, r.res_type) for r in requests]
    return out
