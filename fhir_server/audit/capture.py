"""AuditEvent for writes (R4 auditevent.html; IHE BALP create/update/patch/delete): the fact is
written in the change's own database transaction, so no change can commit without it.

The ``audit_write`` trigger (migration 0007) copies each outbox row into ``audit_queue``. What it
cannot know — who asked, from where, with which request — reaches it through the transaction-local
setting ``fhir.audit``: a write guard (``fhir_server.interactions.common``), run for every write an
interaction stages, sets it once per transaction from the current ``AuditRequest``. A change made
outside a client request is recorded without one (agent: the server itself). A server process
started with ``FHIR_AUDIT=off`` opens its connections with ``fhir.audit = off``: no write facts.
"""

from __future__ import annotations

import weakref

import orjson
import psycopg

from fhir_server import definitions
from fhir_server.audit import context
from fhir_server.interactions.common import register_write_guard
from fhir_server.storage.writes import WriteSession, Written

_marked: weakref.WeakSet[WriteSession] = weakref.WeakSet()


async def note_write(session: WriteSession, written: Written) -> None:
    """Tell the ``audit_write`` trigger, once per transaction, which request this transaction serves."""
    req = context.current()
    if req is None:
        return
    req.wrote = True
    if session in _marked:
        return
    _marked.add(session)
    req.identify()
    await session.conn.execute("SELECT set_config('fhir.audit', %s, true)",
                               (orjson.dumps(req.context()).decode(),))


def install_write_capture() -> None:
    for res_type in definitions.resource_types():
        register_write_guard(res_type, note_write)


def conninfo(url: str, mode: str) -> str:
    """The pool's connection string: with ``fhir.audit = off`` when this process audits nothing."""
    if mode != "off":
        return url
    options = psycopg.conninfo.conninfo_to_dict(url).get("options") or ""
    return psycopg.conninfo.make_conninfo(url, options=f"{options} -c fhir.audit=off".strip())
