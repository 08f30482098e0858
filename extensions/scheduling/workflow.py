"""The Appointment/Slot workflow (http://hl7.org/fhir/R4/appointment.html#statemachine, slot.html): states,
transitions, references, holds, and the one write transaction the operations use.

Appointment: proposed → pending → booked → arrived/checked-in → fulfilled; cancelled, noshow and
entered-in-error end it. An Appointment in an occupying status takes its Slots: pending (a hold,
or a booking the other side has not confirmed) makes them busy-tentative, the others busy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson

from fhir_server.errors import BadRequest, Conflict, FhirError
from fhir_server.fhir.dates import date_range
from fhir_server.fhir.json import now
from fhir_server.state import Server
from fhir_server.storage import repository
from fhir_server.storage.repository import Conn
from fhir_server.storage.writes import WriteSession

Json = dict[str, Any]
CANONICAL = "http://fhir-server.local/fhir"
HOLD_EXPIRES = CANONICAL + "/StructureDefinition/hold-expires"

# Appointment.status → the Slot.status its slots get while it holds them
OCCUPY = {"pending": "busy-tentative", "booked": "busy", "arrived": "busy", "checked-in": "busy",
          "fulfilled": "busy", "noshow": "busy"}
FINAL = {"cancelled", "fulfilled", "noshow", "entered-in-error"}
TRANSITIONS = {
    "proposed": {"pending", "booked", "cancelled", "waitlist", "entered-in-error"},
    "waitlist": {"pending", "booked", "cancelled", "entered-in-error"},
    "pending": {"booked", "cancelled", "entered-in-error"},
    "booked": {"arrived", "checked-in", "cancelled", "noshow", "entered-in-error"},
    "arrived": {"checked-in", "fulfilled", "noshow", "entered-in-error"},
    "checked-in": {"fulfilled", "entered-in-error"},
}


class UpstreamFailed(FhirError):
    """An external scheduling service (ZocDoc) failed or did not answer."""

    status, code = 502, "transient"


def check_transition(current: str, wanted: str, what: str) -> None:
    if wanted != current and wanted not in TRANSITIONS.get(current, set()):
        raise Conflict(f"{what} is {current}; it cannot become {wanted}")


def local_id(reference: Any, res_type: str) -> str | None:
    """``Slot/123`` (or ``[base]/Slot/123``) → ``123``; anything else → None."""
    if isinstance(reference, dict):
        reference = reference.get("reference")
    if not isinstance(reference, str):
        return None
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == res_type and parts[-1]:
        return parts[-1]
    return None


def slot_ids(appointment: Json) -> list[str]:
    out: list[str] = []
    for ref in appointment.get("slot") or []:
        sid = local_id(ref, "Slot")
        if sid and sid not in out:
            out.append(sid)
    return out


def participants(appointment: Json, res_type: str) -> list[str]:
    return [pid for p in appointment.get("participant") or [] if isinstance(p, dict)
            for pid in [local_id(p.get("actor"), res_type)] if pid]


def hold_expiry(appointment: Json) -> datetime | None:
    """When the hold of a pending Appointment lapses (its hold-expires extension), else None."""
    if appointment.get("status") != "pending":
        return None
    for ext in appointment.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == HOLD_EXPIRES and isinstance(ext.get("valueInstant"), str):
            try:
                return date_range(ext["valueInstant"])[0]
            except ValueError:
                return None
    return None


def without_hold(appointment: Json) -> Json:
    out = dict(appointment)
    exts = [e for e in out.get("extension") or [] if not (isinstance(e, dict) and e.get("url") == HOLD_EXPIRES)]
    if exts:
        out["extension"] = exts
    else:
        out.pop("extension", None)
    return out


async def load(conn: Conn, res_type: str, res_id: str) -> Json | None:
    """The current content of a live resource, or None."""
    row = await repository.read(conn, res_type, res_id)
    if row is None or row.deleted or row.content is None:
        return None
    data: Json = orjson.loads(row.content)
    return data


async def current(session: WriteSession, res_type: str, res_id: str) -> Json | None:
    """What the resource is in this transaction: staged (not yet flushed) or stored."""
    for w in reversed(session.pending):
        if w.res_type == res_type and w.id == res_id:
            return w.resource
    return await load(session.conn, res_type, res_id)


def staged(session: WriteSession, res_type: str, res_id: str) -> bool:
    return any(w.res_type == res_type and w.id == res_id for w in session.pending)


@asynccontextmanager
async def write_tx(server: Server) -> AsyncIterator[WriteSession]:
    """One database transaction of writes, flushed and committed when the block succeeds."""
    async with server.pool.connection() as conn, conn.transaction():
        session = WriteSession(conn, server.indexer, now())
        yield session
        await session.flush()
    server.after_commit(session.touched)


def need_resource(value: Any, res_type: str, name: str) -> Json:
    if not isinstance(value, dict) or value.get("resourceType") != res_type:
        raise BadRequest(f"Parameter '{name}' must be a {res_type} resource")
    return value


async def ids_by_identifier(conn: Conn, res_type: str, system: str, value: str) -> list[str]:
    """Live resources of ``res_type`` with this identifier (from the identifier token index)."""
    cur = await conn.execute(
        "SELECT r.id FROM search_param p JOIN idx_token t ON t.pid = p.pid AND t.kind = 0 "
        "JOIN resource r ON r.rid = t.rid AND NOT r.deleted "
        "WHERE p.res_type = %s AND p.code = 'identifier' AND t.code = %s AND t.system = %s ORDER BY r.rid",
        (res_type, value, system))
    return [r[0] for r in await cur.fetchall()]
