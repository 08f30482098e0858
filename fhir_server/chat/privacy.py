"""Who may read a conversation (R4 communication.html: sender, recipient; SMART App Launch 2.x scopes):
its participants only.

A Communication whose sender is a person (Patient, Practitioner, PractitionerRole, RelatedPerson)
is a message between people. Through patient/ and user/ scopes it is visible only to the people
who sent or received it — on top of what the scopes allow (a patient's compartment, a query
constraint). A clinician with ``user/Communication.rs`` does not see other clinicians' or
patients' conversations; a patient does not see messages about them between two clinicians.
Messages sent by the system (a ``$triage`` answer, a medication reminder) follow the scopes alone,
and system/ scopes (backend services) see everything they are granted.

The rule is one ``fhir_server.access.RowRule``, evaluated like the search index: as SQL over
``idx_reference`` for searches, and with the same compiled expressions on content for reads and
writes, so that a search and a read never disagree.
"""

from __future__ import annotations

from typing import Any

from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.registry import Registry
from fhir_server.search.sql import Cond
from fhir_server.search.types import reference

Json = dict[str, Any]
PERSON_TYPES = ("Patient", "Practitioner", "PractitionerRole", "RelatedPerson")
_TYPE = reference.COLUMNS.index("target_type")
_ID = reference.COLUMNS.index("target_id")


def _pids(registry: Registry) -> tuple[int | None, int | None]:
    sender = registry.get("Communication", "sender")
    recipient = registry.get("Communication", "recipient")
    return (sender.pid if sender else None), (recipient.pid if recipient else None)


def references(indexer: SearchIndexer, resource: Json) -> tuple[list[str], list[str]]:
    """(senders, recipients) of a Communication as ``Type/id``, as the search index sees them."""
    sender_pid, recipient_pid = _pids(indexer.registry)
    out: dict[int | None, list[str]] = {sender_pid: [], recipient_pid: []}
    for pid, r in indexer.param_rows("Communication", resource, out):
        if r[_TYPE] and r[_ID]:
            out[pid].append(f"{r[_TYPE]}/{r[_ID]}")
    return out[sender_pid], out[recipient_pid]


def is_conversation(senders: list[str]) -> bool:
    return any(s.split("/", 1)[0] in PERSON_TYPES for s in senders)


class ConversationRule:
    """Communications between people: visible to their participants (``reader``: ``Type/id`` or None)."""

    def sql(self, registry: Registry, reader: str | None, context: str) -> Cond:
        sender_pid, recipient_pid = _pids(registry)
        if sender_pid is None:
            return Cond("true")
        private = Cond("NOT EXISTS (SELECT 1 FROM idx_reference x WHERE x.rid = r.rid AND x.pid = %s "
                       "AND x.target_type = ANY(%s))", [sender_pid, list(PERSON_TYPES)])
        if reader is None or "/" not in reader:
            return private
        reader_type, reader_id = reader.split("/", 1)
        pids = [p for p in (sender_pid, recipient_pid) if p is not None]
        mine = Cond("EXISTS (SELECT 1 FROM idx_reference x WHERE x.rid = r.rid AND x.pid = ANY(%s) "
                    "AND x.target_type = %s AND x.target_id = %s)", [pids, reader_type, reader_id])
        return Cond(f"({private.sql} OR {mine.sql})", [*private.args, *mine.args])

    def allows(self, indexer: SearchIndexer, reader: str | None, context: str, resource: Json) -> bool:
        senders, recipients = references(indexer, resource)
        if not is_conversation(senders):
            return True
        return reader is not None and (reader in senders or reader in recipients)


RULE = ConversationRule()
