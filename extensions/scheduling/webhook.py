"""The ZocDoc appointment webhook (../shared/apis/zocdoc.md "Webhooks"): ``POST /webhooks/zocdoc``.

Checks the HMAC-SHA256 signature over the raw body with the shared key and refuses a
``webhook-timestamp`` more than 5 minutes off (401); then fetches the appointment from ZocDoc (the
event carries no status) and applies it to the local Appointment and its Slots. Idempotent: an
event is applied once (key: appointment id + update time + update type, as ZocDoc documents no
event id), recorded in the same transaction as its changes; a replay answers 200 "duplicate".

Not a FHIR interaction: authenticated by the signature rather than a bearer token, it is mounted
beside the FHIR routes with ``install(app)``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from extensions.scheduling import integrations, zocdoc_appointments
from extensions.scheduling.workflow import UpstreamFailed, write_tx
from fhir_server.errors import BadRequest, FhirError, NotFound, PayloadTooLarge, Unauthorized
from fhir_server.fhir.json import dumps
from fhir_server.state import Server
from mappers.common import MappingError
from mappers.http import ExternalError
from mappers.zocdoc_booking import WebhookEvent, WebhookRejected, remote_appointment, verify_signature, webhook_event
from mappers.zocdoc_client import ZocDocError

log = logging.getLogger(__name__)
PATH = "/webhooks/zocdoc"
MAX_BODY = 1024 * 1024
MEDIA = "application/fhir+json; charset=utf-8"


def _outcome(status: int, severity: str, code: str, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": text}]}
    return Response(dumps(body), status, media_type=MEDIA)


async def _raw(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"A webhook body is at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _seen(server: Server, key: str) -> bool:
    async with server.pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM zocdoc_webhook_event WHERE event_key = %s", (key,))
        return await cur.fetchone() is not None


async def apply_event(server: Server, event: WebhookEvent) -> str:
    """Apply one event; returns what happened (duplicate, created, updated, unchanged)."""
    if await _seen(server, event.key):
        return "duplicate"
    client = integrations.zocdoc(server.settings)
    if client is None:
        raise NotFound("ZocDoc is not configured on this server")
    try:
        data = await client.appointment(event.appointment_id)
        remote = remote_appointment(data)
    except ExternalError as exc:
        if isinstance(exc, ZocDocError) and exc.status == 404:
            return "ignored (ZocDoc does not know the appointment)"  # e.g. a sandbox mock event
        raise UpstreamFailed(f"Could not read appointment {event.appointment_id} from ZocDoc: {exc.message}") from exc
    except MappingError as exc:
        raise UpstreamFailed(f"ZocDoc's appointment {event.appointment_id}: {exc.message}") from exc
    patient = data.get("developer_patient_id") if isinstance(data.get("developer_patient_id"), str) else None
    async with write_tx(server) as session:
        cur = await session.conn.execute(
            "INSERT INTO zocdoc_webhook_event (event_key, outcome) VALUES (%s, 'applying') "
            "ON CONFLICT (event_key) DO NOTHING RETURNING event_key", (event.key,))
        if await cur.fetchone() is None:
            return "duplicate"  # a concurrent delivery of the same event got there first
        outcome = await zocdoc_appointments.apply(server, session, remote, patient)
        await session.conn.execute("UPDATE zocdoc_webhook_event SET outcome = %s WHERE event_key = %s",
                                   (outcome, event.key))
    return outcome


async def receive(request: Request) -> Response:
    server: Server = request.app.state.server
    key = server.settings.zocdoc_webhook_key
    try:
        if not key:
            raise NotFound("The ZocDoc webhook is not configured (ZOCDOC_WEBHOOK_KEY)")
        raw = await _raw(request)
        try:
            verify_signature(key, request.headers.get("webhook-timestamp"), request.headers.get("webhook-signature"),
                             raw, time.time())
        except WebhookRejected as exc:
            raise Unauthorized(f"Webhook refused: {exc}") from exc
        try:
            body: Any = orjson.loads(raw)
            event = webhook_event(body)
        except (orjson.JSONDecodeError, WebhookRejected) as exc:
            raise BadRequest(f"Not an appointment_updated event: {exc}") from exc
        outcome = await apply_event(server, event)
    except FhirError as exc:
        if exc.status >= 500:
            log.warning("ZocDoc webhook not applied: %s", exc.diagnostics)
        return Response(dumps(exc.outcome()), exc.status, media_type=MEDIA)
    return _outcome(200, "information", "informational",
                    f"Event for appointment {event.appointment_id}: {outcome}")


def routes() -> list[Route]:
    return [Route(PATH, receive, methods=["POST"])]


def install(app: Any) -> None:
    """Mount the webhook ahead of the FHIR routes (whose ``/{type}/{id}`` would otherwise take the path)."""
    if not any(getattr(r, "path", None) == PATH for r in app.router.routes):
        app.router.routes[:0] = routes()
