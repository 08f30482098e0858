"""Sending notifications (R4 subscription.html#errors: status error/active; backport IG heartbeats).

Delivery workers run in every server process and claim queued events ``FOR UPDATE SKIP LOCKED``,
one resource's events in order. A rest-hook POST that fails (network error, timeout, non-2xx)
is retried with exponential backoff (1 s, 2 s, 4 s … up to the configured maximum) and the
subscription goes to ``error`` with the reason; the first success brings it back to ``active``.
Websocket notifications go through ``NOTIFY fhir_ws`` to whichever process holds the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from fhir_server.fhir.json import now
from fhir_server.search.conditional import condition
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.storage.writes import WriteSession
from fhir_server.subscriptions import notification
from fhir_server.subscriptions.spec import SpecError, SubscriptionSpec, parse

log = logging.getLogger(__name__)
Json = dict[str, Any]

_CLAIM = """
SELECT d.sub_id, d.number, d.attempts FROM subscription_delivery d
WHERE d.next_at <= clock_timestamp()
  AND NOT EXISTS (SELECT 1 FROM subscription_delivery e
                  WHERE e.sub_id = d.sub_id AND e.res_key = d.res_key AND e.number < d.number)
ORDER BY d.next_at, d.sub_id, d.number
LIMIT 1 FOR UPDATE SKIP LOCKED
"""


class DeliveryError(Exception):
    pass


def backoff(attempts: int, maximum: float) -> float:
    return float(min(maximum, 2 ** max(0, attempts - 1)))


class Deliverer:
    """The delivery loop of one server process."""

    def __init__(self, server: Any, base: str) -> None:
        self.server = server
        self.base = base
        self.client = httpx.AsyncClient(follow_redirects=False)
        self.wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        for i in range(max(1, self.server.settings.delivery_workers)):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"subscription-delivery-{i}"))
        self._tasks.append(asyncio.create_task(self._heartbeats(), name="subscription-heartbeats"))

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                sent = await self.deliver_one()
            except Exception:
                log.exception("subscription delivery failed unexpectedly")
                sent = False
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 1.0)
                self.wake.clear()

    async def deliver_one(self) -> bool:
        """Claim and send one queued event; False when none is due."""
        async with self.server.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_CLAIM)
            row = await cur.fetchone()
            if row is None:
                return False
            sub_id, number, attempts = row
            spec, events_total = await self._subscription(conn, sub_id)
            if spec is None:  # deleted or switched off: drop what is queued for it
                await conn.execute("DELETE FROM subscription_delivery WHERE sub_id = %s", (sub_id,))
                return True
            event = await self._event(conn, sub_id, number, spec)
            try:
                await self._send(spec, events_total, [event])
            except DeliveryError as exc:
                await self._failed(conn, spec, number, attempts + 1, str(exc))
                return True
            await conn.execute("DELETE FROM subscription_delivery WHERE sub_id = %s AND number = %s", (sub_id, number))
            await self._succeeded(conn, spec)
            return True

    async def _subscription(self, conn: Any, sub_id: str) -> tuple[SubscriptionSpec | None, int]:
        cur = await conn.execute(
            f"SELECT {content_sql('r')}, s.events FROM resource r JOIN subscription_state s ON s.sub_id = r.id "
            "WHERE r.res_type = 'Subscription' AND r.id = %s AND NOT r.deleted", (sub_id,))
        row = await cur.fetchone()
        if row is None:
            return None, 0
        content = orjson.loads(content_bytes(row[0]))
        if content.get("status") not in ("active", "error"):
            return None, 0
        try:
            return parse(content), int(row[1])
        except SpecError:
            return None, 0

    async def _event(self, conn: Any, sub_id: str, number: int, spec: SubscriptionSpec) -> tuple[Any, ...]:
        cur = await conn.execute(
            "SELECT e.created, e.res_type, e.id, e.action, "
            f"(SELECT {content_sql('h')} FROM resource_history h WHERE h.res_type = e.res_type AND h.id = e.id "
            " AND h.version = e.version) FROM subscription_event e WHERE e.sub_id = %s AND e.number = %s",
            (sub_id, number))
        row = await cur.fetchone()
        assert row is not None
        created, res_type, res_id, action, content = row
        wanted = content and (spec.payload or spec.content == "full-resource")
        resource = orjson.loads(content_bytes(content)) if wanted else None
        return (number, created, res_type, res_id, action, resource)

    async def _send(self, spec: SubscriptionSpec, events_total: int, events: list[tuple[Any, ...]]) -> None:
        if spec.channel == "websocket":
            await self._notify_websocket(spec, events)
            return
        assert spec.endpoint is not None
        headers = dict(spec.headers)
        body: bytes | None = None
        if spec.backport:
            body = orjson.dumps(notification.bundle(spec, self.base, "event-notification", events_total, events))
            headers["Content-Type"] = "application/fhir+json"
        elif spec.payload and events[0][5] is not None:
            body = orjson.dumps(events[0][5])
            headers["Content-Type"] = spec.payload
        await self._post(spec, body, headers)

    async def _post(self, spec: SubscriptionSpec, body: bytes | None, headers: dict[str, str]) -> None:
        assert spec.endpoint is not None
        try:
            resp = await self.client.post(spec.endpoint, content=body or b"", headers=headers, timeout=spec.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"could not reach {spec.endpoint}: {type(exc).__name__}") from exc
        if not 200 <= resp.status_code < 300:
            raise DeliveryError(f"{spec.endpoint} answered {resp.status_code}")

    async def _notify_websocket(self, spec: SubscriptionSpec, events: list[tuple[Any, ...]]) -> None:
        async with self.server.pool.connection() as conn:
            for number, *_ in events:
                await conn.execute("SELECT pg_notify('fhir_ws', %s)", (f"{spec.id} {number}",))

    async def _failed(self, conn: Any, spec: SubscriptionSpec, number: int, attempts: int, reason: str) -> None:
        wait = backoff(attempts, self.server.settings.delivery_max_backoff)
        await conn.execute(
            "UPDATE subscription_delivery SET attempts = %s, last_error = %s, next_at = clock_timestamp() + %s "
            "WHERE sub_id = %s AND number = %s", (attempts, reason, timedelta(seconds=wait), spec.id, number))
        await conn.execute(
            "UPDATE subscription_state SET status = 'error', error = %s, "
            "failing_since = coalesce(failing_since, clock_timestamp()) WHERE sub_id = %s", (reason, spec.id))
        if spec.status != "error":
            await self._set_status(conn, spec.id, "error", reason)

    async def _succeeded(self, conn: Any, spec: SubscriptionSpec) -> None:
        await conn.execute(
            "UPDATE subscription_state SET status = 'active', error = NULL, failing_since = NULL, "
            "last_sent = clock_timestamp() WHERE sub_id = %s", (spec.id,))
        if spec.status == "error":
            await self._set_status(conn, spec.id, "active", None)

    async def _set_status(self, conn: Any, sub_id: str, status: str, error: str | None) -> None:
        """Record the status on the Subscription resource itself (a new version, visible to clients)."""
        cur = await conn.execute(f"SELECT {content_sql('r')} FROM resource r WHERE r.res_type = 'Subscription' "
                                 "AND r.id = %s AND NOT r.deleted FOR UPDATE", (sub_id,))
        row = await cur.fetchone()
        if row is None:
            return
        content: Json = orjson.loads(content_bytes(row[0]))
        content["status"] = status
        if error:
            content["error"] = error
        else:
            content.pop("error", None)
        session = WriteSession(conn, self.server.indexer, now())
        await session.stage_update("Subscription", sub_id, content)
        await session.flush()

    async def _heartbeats(self) -> None:
        while not self._stopping:
            try:
                await self._heartbeat_round()
            except Exception:
                log.exception("subscription heartbeat round failed")
            await asyncio.sleep(1.0)

    async def _heartbeat_round(self) -> None:
        async with self.server.pool.connection() as conn:
            active = condition(self.server.registry, "Subscription", [("status", "active")])
            cur = await conn.execute(
                f"SELECT {content_sql('r')}, coalesce(s.events, 0), s.last_sent FROM resource r "
                "LEFT JOIN subscription_state s ON s.sub_id = r.id WHERE r.res_type = 'Subscription' "
                f"AND NOT r.deleted AND {active.sql}", active.args)
            rows = await cur.fetchall()
        for text, events, last_sent in rows:
            try:
                spec = parse(orjson.loads(content_bytes(text)))
            except SpecError:
                continue
            if not spec.heartbeat or not spec.backport or spec.channel != "rest-hook":
                continue
            due = last_sent is None or datetime.now(UTC) - last_sent >= timedelta(seconds=spec.heartbeat)
            if due:
                await self._heartbeat(spec, int(events))

    async def _heartbeat(self, spec: SubscriptionSpec, events: int) -> None:
        async with self.server.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 1))", (spec.id,))
            row = await cur.fetchone()
            if not row or not row[0]:
                return
            await conn.execute("INSERT INTO subscription_state (sub_id) VALUES (%s) ON CONFLICT DO NOTHING",
                               (spec.id,))
            cur = await conn.execute("SELECT last_sent FROM subscription_state WHERE sub_id = %s FOR UPDATE",
                                     (spec.id,))
            last = (await cur.fetchone() or (None,))[0]
            if last is not None and datetime.now(UTC) - last < timedelta(seconds=spec.heartbeat or 0):
                return
            body = orjson.dumps(notification.bundle(spec, self.base, "heartbeat", events, []))
            try:
                await self._post(spec, body, {**spec.headers, "Content-Type": "application/fhir+json"})
            except DeliveryError as exc:
                log.info("heartbeat to %s failed: %s", spec.endpoint, exc)
                return
            await conn.execute("UPDATE subscription_state SET last_sent = clock_timestamp() WHERE sub_id = %s",
                               (spec.id,))
