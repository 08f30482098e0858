"""``Subscription/[id]/$status`` and ``$events`` (Subscriptions backport IG operations).

``$status`` answers the subscription's status (a Parameters resource, profile
backport-subscription-status-r4, inside a searchset Bundle); ``$events`` replays recorded events
(``eventsSinceNumber``, ``eventsUntilNumber``, ``content``) so a client can catch up after a gap.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.errors import BadRequest, NotFound
from fhir_server.fhir.bundle import new_bundle
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.subscriptions import notification
from fhir_server.subscriptions.spec import SpecError, SubscriptionSpec, parse

MAX_EVENTS = 1000


async def _load(ctx: OperationContext) -> tuple[SubscriptionSpec, int, str, str | None]:
    async with ctx.server.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {content_sql('r')}, coalesce(s.events, 0), s.status, s.error "
            "FROM resource r LEFT JOIN subscription_state s ON s.sub_id = r.id "
            "WHERE r.res_type = 'Subscription' AND r.id = %s AND NOT r.deleted", (ctx.res_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"Subscription/{ctx.res_id} is not known")
    content = orjson.loads(content_bytes(row[0]))
    try:
        spec = parse(content)
    except SpecError as exc:
        raise BadRequest(f"Subscription/{ctx.res_id} cannot be acted on: {exc}") from exc
    return spec, int(row[1]), str(row[2] or content.get("status")), row[3]


@operation("status", instance=True, resource_types=("Subscription",))
async def status(ctx: OperationContext) -> OperationResult:
    spec, events, state, _ = await _load(ctx)
    bundle = new_bundle("searchset", total=1)
    params = notification.status_parameters(spec, ctx.base, "query-status", events, [], state)
    bundle["entry"] = [{"resource": params, "search": {"mode": "match"}}]
    return OperationResult(resource=bundle)


@operation("events", instance=True, resource_types=("Subscription",))
async def events(ctx: OperationContext) -> OperationResult:
    spec, total, state, _ = await _load(ctx)
    since = ctx.params.int("eventsSinceNumber", 1) or 1
    until = ctx.params.int("eventsUntilNumber", total) or total
    content = ctx.params.str("content", spec.content) or spec.content
    if content not in ("empty", "id-only", "full-resource"):
        raise BadRequest("content must be empty, id-only or full-resource")
    if until - since + 1 > MAX_EVENTS:
        since = until - MAX_EVENTS + 1
    async with ctx.server.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT e.number, e.created, e.res_type, e.id, e.action, {content_sql('h')} FROM subscription_event e "
            "LEFT JOIN resource_history h ON h.res_type = e.res_type AND h.id = e.id AND h.version = e.version "
            "WHERE e.sub_id = %s AND e.number BETWEEN %s AND %s ORDER BY e.number", (spec.id, since, until))
        rows = await cur.fetchall()
    spec.content = content
    found: list[tuple[Any, ...]] = [
        (n, t, rt, ri, a, orjson.loads(content_bytes(c)) if c and content == "full-resource" else None)
        for n, t, rt, ri, a, c in rows]
    bundle = notification.bundle(spec, ctx.base, "query-event", total, found, state)
    return OperationResult(resource=bundle)
