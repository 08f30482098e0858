"""Importing mapped resources (http://hl7.org/fhir/R4/http.html#update, update-as-create): create, update or
leave alone, one record at a time, with a reconciliation report.

A record (e.g. one ZocDoc provider location → Practitioner, Location, PractitionerRole, Schedule)
is written in one transaction: it is stored whole or not at all, and its failure is reported
without stopping the others. Resources carry ids derived from their external identifiers, so a
second import updates what the first created; an advisory lock on the id makes two concurrent
imports of the same resource meet instead of colliding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from extensions.scheduling.workflow import Json, current, write_tx
from fhir_server.errors import FhirError
from fhir_server.interactions import update
from fhir_server.state import Server
from fhir_server.storage.writes import WriteSession
from mappers.common import MappingError

Merge = Callable[[Json, Json], Json | None]  # (stored, mapped) → what to store; None: leave it as it is


@dataclass(slots=True)
class Record:
    label: str
    resources: list[Json]
    merge: Merge | None = None


@dataclass(slots=True)
class Report:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # Type/id of every resource imported or already current

    def add(self, outcome: str, ref: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.written.append(ref)

    def merge_from(self, other: Report) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.written += other.written

    def summary(self) -> str:
        return (f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
                f"failed {len(self.failed)}")

    def as_json(self) -> Json:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "failed": [{"record": r, "reason": why} for r, why in self.failed]}


def _content(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if k not in ("meta", "id", "text")}


async def upsert(server: Server, session: WriteSession, resource: Json, merge: Merge | None = None) -> str:
    """Write one resource by its id: ``created``, ``updated`` or ``unchanged``."""
    res_type, res_id = str(resource["resourceType"]), str(resource["id"])
    await session.lock_key(f"import:{res_type}/{res_id}")
    stored = await current(session, res_type, res_id)
    if stored is not None:
        wanted = merge(stored, resource) if merge else resource
        if wanted is None or _content(wanted) == _content(stored):
            return "unchanged"
        await update.update(server, session, res_type, res_id, {**wanted, "id": res_id})
        return "updated"
    await update.update(server, session, res_type, res_id, resource)
    return "created"


def _reason(exc: Exception) -> str:
    if isinstance(exc, FhirError):
        return exc.diagnostics
    return str(exc)


async def _one(server: Server, record: Record) -> Report:
    report = Report()
    outcomes: list[tuple[str, str]] = []
    async with write_tx(server) as session:
        for res in record.resources:
            outcomes.append((await upsert(server, session, res, record.merge),
                             f"{res['resourceType']}/{res['id']}"))
    for outcome, ref in outcomes:
        report.add(outcome, ref)
    return report


async def import_records(server: Server, records: Iterable[Record]) -> Report:
    """Each record in its own transaction; failures are reported per record."""
    report = Report()
    for record in records:
        try:
            report.merge_from(await _one(server, record))
        except (FhirError, MappingError) as exc:
            report.failed.append((record.label, _reason(exc)))
    return report


async def import_batch(server: Server, records: list[Record]) -> Report:
    """All records in one transaction; if any fails, again one by one (so the good ones still land)."""
    if not records:
        return Report()
    report = Report()
    try:
        outcomes: list[tuple[str, str]] = []
        async with write_tx(server) as session:
            for record in records:
                for res in record.resources:
                    outcomes.append((await upsert(server, session, res, record.merge),
                                     f"{res['resourceType']}/{res['id']}"))
    except (FhirError, MappingError):
        return await import_records(server, records)
    for outcome, ref in outcomes:
        report.add(outcome, ref)
    return report

