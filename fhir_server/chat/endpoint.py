"""The chat WebSocket (``ws[s]://[base]/chat``; RFC 6455, bearer tokens as in RFC 6750 and SMART App
Launch 2.x): authenticate, then exchange the frames of ``protocol``.

The access token comes with the connection (``Authorization: Bearer`` or ``?access_token=``) or as
the first frame (``{"type": "authorize", "access_token": ...}``, for browsers, which cannot set
headers), and is checked by ``smart_auth`` exactly as for the REST API; the chat identity is the
token's fhirUser (a Patient, Practitioner, PractitionerRole or RelatedPerson). The socket is closed
(1008) when the token expires or is revoked. With authorization off (trusted setups only) the
identity is simply named: ``?as=Practitioner/1`` or ``{"type": "authorize", "as": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from fhir_server.access import OPEN, Access
from fhir_server.audit.classify import UNKNOWN
from fhir_server.audit.context import AuditRequest
from fhir_server.chat.hub import Member
from fhir_server.chat.protocol import ChatError, frame, message_id, parse, person, ref_of
from fhir_server.chat.service import Chat
from fhir_server.errors import FhirError

log = logging.getLogger(__name__)
AUTH_SECONDS = 10.0
CHECK_SECONDS = 30.0
POLICY = 1008


def http_base(ws: WebSocket) -> str:
    """The FHIR base URL the token must be issued for (the socket's URL with http/https)."""
    configured = ws.app.state.server.settings.base_url
    if configured:
        return str(configured)
    scheme = "https" if ws.url.scheme == "wss" else "http"
    return f"{scheme}://{ws.headers.get('host', '')}{ws.scope.get('root_path', '')}".rstrip("/")


async def _credentials(ws: WebSocket) -> dict[str, Any]:
    header = ws.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return {"access_token": token.strip()}
    if ws.query_params.get("access_token") or ws.query_params.get("as"):
        return dict(ws.query_params)
    message = await asyncio.wait_for(ws.receive(), AUTH_SECONDS)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    data = parse(message.get("text") or message.get("bytes") or b"")
    if data["type"] != "authorize":
        raise ChatError("authorize first: {\"type\": \"authorize\", \"access_token\": \"...\"}", 401)
    return data


async def _identify(ws: WebSocket, chat: Chat) -> tuple[Access, Any, str]:
    creds = await _credentials(ws)
    if chat.auth is None:
        return OPEN, None, person(creds.get("as"), "'as' (authorization is off: name who you are)")
    token = creds.get("access_token")
    if not isinstance(token, str) or not token:
        raise ChatError("an access token is required (Authorization: Bearer, ?access_token= or an authorize "
                        "message)", 401)
    access = await chat.auth.authenticate_token(token, http_base(ws))
    principal = access.principal
    if not principal.fhir_user:
        raise ChatError("the access token names no user (fhirUser): chat needs a Patient or Practitioner", 403)
    return access, principal, person(principal.fhir_user, "the token's fhirUser")


async def _authenticate(ws: WebSocket, chat: Chat) -> Member | None:
    client = ws.client
    ip = client.host if client else None
    try:
        access, principal, user = await _identify(ws, chat)
    except WebSocketDisconnect:
        return None
    except (ChatError, FhirError, TimeoutError) as exc:
        status, message = ((exc.status, exc.message) if isinstance(exc, ChatError) else
                           (exc.status, exc.diagnostics) if isinstance(exc, FhirError) else
                           (401, "no credentials within 10 seconds"))
        if chat.hub.audit is not None:
            with contextlib.suppress(Exception):
                await chat.audit.record(AuditRequest("GET", "/chat", "", ip), UNKNOWN, status, desc=message)
        with contextlib.suppress(Exception):
            await ws.send_text(frame("error", status=status, message=message))
            await ws.close(POLICY)
        return None
    return Member(ws, user, access, principal, ip)


async def _watch(member: Member, chat: Chat) -> None:
    """Close the socket when its token expires or is revoked."""
    while True:
        left = CHECK_SECONDS if member.principal is None else member.principal.expires - time.time()
        await asyncio.sleep(max(0.0, min(CHECK_SECONDS, left)))
        revoked = member.principal is not None and await chat.auth.is_revoked(member.principal)
        if member.expired or revoked:
            with contextlib.suppress(Exception):
                await member.send(frame("error", status=401, message="the access token has expired or was revoked"))
                await member.ws.close(POLICY)
            return


async def _handle(chat: Chat, member: Member, text: str) -> None:
    ref = None
    try:
        data = parse(text)
        ref = ref_of(data)
        kind = data["type"]
        if member.expired:
            raise ChatError("the access token has expired", 401)
        if kind == "ping":
            await member.send(frame("pong", ref=ref))
        elif kind == "send":
            stored = await chat.send(member, data)
            await member.send(frame("sent", ref=ref, communication=stored))
        elif kind == "read":
            stored = await chat.receipt(member, message_id(data.get("id")))
            await member.send(frame("receipt", ref=ref, id=stored.get("id"), received=stored.get("received")))
        elif kind == "authorize":
            raise ChatError("this socket is already authorized")
        else:
            raise ChatError(f"unknown message type '{kind}' (send, read, ping)")
    except ChatError as exc:
        await member.send(frame("error", ref=ref, status=exc.status, message=exc.message))
    except FhirError as exc:
        await member.send(frame("error", ref=ref, status=exc.status, message=exc.diagnostics))
    except WebSocketDisconnect:
        raise
    except Exception:
        log.exception("chat message could not be handled")
        await member.send(frame("error", ref=ref, status=500, message="the message could not be handled"))


async def chat_socket(ws: WebSocket) -> None:
    chat: Chat = ws.app.state.chat
    await ws.accept()
    member = await _authenticate(ws, chat)
    if member is None:
        return
    chat.hub.add(member)
    watcher = asyncio.create_task(_watch(member, chat))
    try:
        await member.send(frame("ready", user=member.user))
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            if text is not None:
                await _handle(chat, member, text)
    except WebSocketDisconnect:
        pass
    finally:
        chat.hub.remove(member)
        watcher.cancel()
