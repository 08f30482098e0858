"""Matching committed changes to subscriptions (R4 subscription.html#notification; backport IG events).

The outbox consumer: for each change, the active subscriptions on its resource type whose search
(the R4 criteria, or the topic's filter) selects the resource get an event — the next event
number of that subscription — recorded in ``subscription_event`` and queued for delivery, in the
dispatch transaction itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import orjson

from fhir_server.errors import FhirError
from fhir_server.events.dispatcher import Change
from fhir_server.search.compiler import Compiler
from fhir_server.search.conditional import condition
from fhir_server.search.params import parse as parse_search
from fhir_server.search.registry import Registry
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.subscriptions import owner
from fhir_server.subscriptions.spec import SpecError, SubscriptionSpec, parse

log = logging.getLogger(__name__)
Conn = Any


async def active_subscriptions(conn: Conn, registry: Registry) -> list[SubscriptionSpec]:
    active = condition(registry, "Subscription", [("status", "active,error")])
    cur = await conn.execute(
        f"SELECT {content_sql('r')} FROM resource r WHERE r.res_type = 'Subscription' AND NOT r.deleted "
        f"AND {active.sql}", active.args)
    out = []
    for (text,) in await cur.fetchall():
        try:
            out.append(parse(orjson.loads(content_bytes(text))))
        except SpecError as exc:
            log.warning("subscription not usable: %s", exc)
    return out


class Matcher:
    """The ``subscriptions`` outbox consumer."""

    def __init__(self, server: Any) -> None:
        self.server = server

    async def __call__(self, conn: Conn, changes: list[Change]) -> None:
        subs = await active_subscriptions(conn, self.server.registry)
        if not subs:
            return
        by_type: dict[str, list[SubscriptionSpec]] = defaultdict(list)
        for spec in subs:
            by_type[spec.res_type].append(spec)
        events: dict[str, list[Change]] = defaultdict(list)
        for spec in (s for t in {c.res_type for c in changes} for s in by_type.get(t, [])):
            mine = [c for c in changes if c.res_type == spec.res_type and self._action_ok(spec, c)]
            if spec.owner is not None:
                # what the creator may see: a deleted resource can no longer be checked, so it is not reported
                mine = [c for c in mine if c.action != "delete"]
            if spec.params or spec.owner is not None:
                selected = await self._select(conn, spec, [c.id for c in mine if c.action != "delete"])
                mine = [c for c in mine if c.action == "delete" or c.id in selected]
            events[spec.id].extend(mine)
        for sub_id, matched in events.items():
            if matched:
                await self._record(conn, sub_id, matched)
        if any(events.values()):
            await conn.execute("SELECT pg_notify('fhir_delivery', '')")

    @staticmethod
    def _action_ok(spec: SubscriptionSpec, change: Change) -> bool:
        if spec.topic is not None:
            return change.action in spec.topic.actions
        return change.action != "delete"  # R4 criteria select resources; a deleted one matches nothing

    async def _select(self, conn: Conn, spec: SubscriptionSpec, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        req = parse_search(spec.params, 1000)
        cond, _ = Compiler(self.server.registry, None).filters(spec.res_type, req.filters)
        acc = owner.restore(self.server, spec.owner)
        if acc is not None:
            try:
                acc.require("search-type", spec.res_type)
            except FhirError:
                return set()
            limit = acc.condition("search-type", spec.res_type)
            if limit is not None:
                cond = cond & limit
        cur = await conn.execute(
            f"SELECT r.id FROM resource r WHERE r.res_type = %s AND NOT r.deleted AND r.id = ANY(%s) AND ({cond.sql})",
            [spec.res_type, ids, *cond.args],
        )
        return {r[0] for r in await cur.fetchall()}

    async def _record(self, conn: Conn, sub_id: str, matched: list[Change]) -> None:
        await conn.execute("INSERT INTO subscription_state (sub_id) VALUES (%s) ON CONFLICT DO NOTHING", (sub_id,))
        cur = await conn.execute(
            "UPDATE subscription_state SET events = events + %s WHERE sub_id = %s RETURNING events",
            (len(matched), sub_id),
        )
        row = await cur.fetchone()
        assert row is not None
        first = int(row[0]) - len(matched) + 1
        numbers = list(range(first, first + len(matched)))
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO subscription_event (sub_id, number, res_type, id, version, action, created) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(sub_id, n, ch.res_type, ch.id, ch.version, ch.action, ch.created)
                 for n, ch in zip(numbers, matched, strict=True)],
            )
            await c.executemany(
                "INSERT INTO subscription_delivery (sub_id, number, res_key) VALUES (%s, %s, %s)",
                [(sub_id, n, f"{ch.res_type}/{ch.id}") for n, ch in zip(numbers, matched, strict=True)],
            )
