"""The websocket channel (R4 subscription.html#2.46.7.2): ``bind <id>`` → ``bound <id>``, then ``ping <id>``.

A client connects to ``ws[s]://[base]/websocket`` and binds to one or more Subscriptions whose
channel is ``websocket``. Any server process may produce the notification: it announces it with
``NOTIFY fhir_ws '<subscription id> <event number>'`` and every process forwards it to the sockets
bound there — ``ping <id>`` for R4 subscriptions, the notification Bundle (JSON text) for
topic-based ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import orjson
import psycopg
from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect

from fhir_server.errors import FhirError
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.subscriptions import notification
from fhir_server.subscriptions.spec import SpecError, parse

log = logging.getLogger(__name__)


class WebSocketHub:
    """The sockets bound in this process, and the listener that feeds them."""

    def __init__(self, server: Any, base: str) -> None:
        self.server = server
        self.base = base
        self.bound: dict[str, set[WebSocket]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="websocket-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen_forever(self) -> None:
        assert self.server.settings.database_url
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.server.settings.database_url,
                                                                 autocommit=True) as conn:
                    await conn.execute("LISTEN fhir_ws")
                    async for note in conn.notifies():
                        await self._forward(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("websocket hub lost its LISTEN connection; reconnecting")
                await asyncio.sleep(1.0)

    async def _forward(self, payload: str) -> None:
        sub_id, _, number = payload.partition(" ")
        sockets = list(self.bound.get(sub_id, ()))
        if not sockets:
            return
        message = await self._message(sub_id, int(number) if number.isdigit() else 0)
        for ws in sockets:
            try:
                await ws.send_text(message)
            except Exception:
                self.bound[sub_id].discard(ws)

    async def _message(self, sub_id: str, number: int) -> str:
        async with self.server.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {content_sql('r')}, s.events, e.created, e.res_type, e.id, e.action FROM resource r "
                "JOIN subscription_state s ON s.sub_id = r.id "
                "LEFT JOIN subscription_event e ON e.sub_id = r.id AND e.number = %s "
                "WHERE r.res_type = 'Subscription' AND r.id = %s", (number, sub_id))
            row = await cur.fetchone()
        if row is None:
            return f"ping {sub_id}"
        try:
            spec = parse(orjson.loads(content_bytes(row[0])))
        except SpecError:
            return f"ping {sub_id}"
        if not spec.backport or row[2] is None:
            return f"ping {sub_id}"
        event = (number, row[2], row[3], row[4], row[5], None)
        return orjson.dumps(notification.bundle(spec, self.base, "event-notification", int(row[1]), [event])).decode()

    async def _subscription_ok(self, sub_id: str) -> bool:
        async with self.server.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {content_sql('r')} FROM resource r "
                "WHERE r.res_type = 'Subscription' AND r.id = %s AND NOT r.deleted", (sub_id,))
            row = await cur.fetchone()
        content = orjson.loads(content_bytes(row[0])) if row is not None else {}
        channel = content.get("channel")
        return (isinstance(channel, dict) and channel.get("type") == "websocket"
                and content.get("status") in ("active", "error"))

    async def _caller(self, ws: WebSocket) -> Any:
        """The access of the connecting client (None when authorization is off); raises when refused."""
        auth = getattr(ws.app.state, "auth", None)
        if auth is None:
            return None
        token = ws.query_params.get("access_token")
        header = ws.headers.get("authorization", "")
        if not token and header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            raise PermissionError("an access token is required (?access_token=… or Authorization: Bearer)")
        # the guard's own check, on the handshake seen as the HTTP request it is (same host, same base URL)
        headers = [(k, v) for k, v in ws.scope["headers"] if k != b"authorization"]
        scope = {**ws.scope, "type": "http", "scheme": "https" if ws.url.scheme == "wss" else "http",
                 "headers": [*headers, (b"authorization", f"Bearer {token}".encode())]}
        return await auth.authenticate(Request(scope))

    async def _may_bind(self, caller: Any, sub_id: str) -> bool:
        if caller is None:
            return True
        async with self.server.pool.connection() as conn:
            cur = await conn.execute(f"SELECT {content_sql('r')} FROM resource r WHERE r.res_type = 'Subscription' "
                                     "AND r.id = %s AND NOT r.deleted", (sub_id,))
            row = await cur.fetchone()
        if row is None:
            return False
        try:
            caller.require("read", "Subscription")
        except FhirError:
            return False
        return bool(caller.permits("read", "Subscription", orjson.loads(content_bytes(row[0]))))

    async def serve(self, ws: WebSocket) -> None:
        try:
            caller = await self._caller(ws)
        except (PermissionError, FhirError):
            await ws.close(code=1008)  # before accept: the handshake is refused (403)
            return
        await ws.accept()
        mine: set[str] = set()
        try:
            while True:
                text = (await ws.receive_text()).strip()
                verb, _, sub_id = text.partition(" ")
                if verb != "bind" or not sub_id:
                    await ws.send_text("error expected 'bind <subscription id>'")
                    continue
                if not await self._subscription_ok(sub_id) or not await self._may_bind(caller, sub_id):
                    await ws.send_text(f"error {sub_id} is not an active websocket Subscription")
                    continue
                self.bound[sub_id].add(ws)
                mine.add(sub_id)
                await ws.send_text(f"bound {sub_id}")
        except WebSocketDisconnect:
            pass
        finally:
            for sub_id in mine:
                self.bound[sub_id].discard(ws)
