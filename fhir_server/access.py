"""Access control at each R4 interaction (http://hl7.org/fhir/R4/http.html, SMART App Launch 2.x scopes).

The interface between the server and an authorization layer (``smart_auth``). Every request runs
with one ``Access`` — what its caller may do — held in a context variable that the layer's guard
sets for the request; code running outside a request (the loader, the CLI) has ``OPEN``.

The interactions ask four questions, by R4 interaction code (``read``, ``vread``, ``search-type``,
``history-instance``, ``create``, ``update``, ``patch``, ``delete``, ...):

- ``require(interaction, type)``: may the caller do this at all? (403 when not)
- ``condition(interaction, type)``: the rows of the type it may see, as a SQL condition on the
  resource alias ``r`` (None: all of them) — added to every search query;
- ``permits(interaction, type, resource)``: may it see / write this resource content? — asked for
  reads, history entries, matches of conditional interactions and the content of writes;
- ``types(interaction, candidates)``: which of several types (system-level search and history).

Components may add row rules for a type (``register_row_rule``) that an authorization layer applies
to user-facing access on top of the scopes (chat: a conversation is visible to its participants).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import orjson

from fhir_server.errors import Forbidden
from fhir_server.search.sql import Cond, any_of
from fhir_server.storage.repository import Conn

Json = dict[str, Any]
SCOPE_HEADER = {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}


class Access(Protocol):
    """The rights of the caller of one request."""

    @property
    def restricted(self) -> bool:
        """False when the caller may do everything (no per-resource checks needed)."""
        ...

    def require(self, interaction: str, res_type: str | None) -> None:
        """Raise ``Forbidden`` unless the caller may perform ``interaction`` on ``res_type``."""
        ...

    def types(self, interaction: str, candidates: list[str]) -> list[str]:
        """Of ``candidates``, the types the caller may perform ``interaction`` on."""
        ...

    def condition(self, interaction: str, res_type: str) -> Cond | None:
        """The rows of ``res_type`` visible to the caller (SQL on alias ``r``); None: every row."""
        ...

    def permits(self, interaction: str, res_type: str, resource: Json) -> bool:
        """Whether this content is within the caller's reach for ``interaction``."""
        ...


class RowRule(Protocol):
    """A restriction on the rows of one type for a reader (``Type/id`` of the user, or None when unknown)
    reading through a scope of ``context`` (``patient`` or ``user``)."""

    def sql(self, registry: Any, reader: str | None, context: str) -> Cond:
        """The visible rows, as SQL on the resource alias ``r``."""
        ...

    def allows(self, indexer: Any, reader: str | None, context: str, resource: Json) -> bool:
        """Whether this content is visible to the reader."""
        ...


_row_rules: dict[str, list[RowRule]] = {}


def register_row_rule(res_type: str, rule: RowRule) -> None:
    """Add ``rule`` for ``res_type`` (once per rule class)."""
    found = _row_rules.setdefault(res_type, [])
    found[:] = [r for r in found if type(r) is not type(rule)]
    found.append(rule)


def row_rules(res_type: str) -> list[RowRule]:
    return _row_rules.get(res_type, [])


class OpenAccess:
    """No restriction: authorization is off, or the code runs outside a request."""

    restricted = False

    def require(self, interaction: str, res_type: str | None) -> None:
        return None

    def types(self, interaction: str, candidates: list[str]) -> list[str]:
        return candidates

    def condition(self, interaction: str, res_type: str) -> Cond | None:
        return None

    def permits(self, interaction: str, res_type: str, resource: Json) -> bool:
        return True


OPEN: Access = OpenAccess()
_current: ContextVar[Access] = ContextVar("fhir_access", default=OPEN)


def current() -> Access:
    """The access of the request being served."""
    return _current.get()


@contextmanager
def acting_as(access: Access) -> Iterator[Access]:
    """Run the block with ``access`` as the current access (the guard wraps each request in this)."""
    token = _current.set(access)
    try:
        yield access
    finally:
        _current.reset(token)


def require(interaction: str, res_type: str | None) -> None:
    current().require(interaction, res_type)


def check(interaction: str, res_type: str, resource: Json | bytes | None, what: str | None = None) -> None:
    """Raise 403 unless the current caller may ``interaction`` this resource content."""
    acc = current()
    if not acc.restricted or resource is None:
        return
    data = orjson.loads(resource) if isinstance(resource, bytes) else resource
    if not isinstance(data, dict) or not acc.permits(interaction, res_type, data):
        label = what or f"this {res_type}"
        raise Forbidden(f"The access token does not allow {interaction} of {label} (outside its scopes "
                        "or patient compartment)", headers=SCOPE_HEADER)


def visible(interaction: str, res_type: str, resource: Json | bytes | None) -> bool:
    """Whether the current caller may see this content (for filtering lists: history entries)."""
    acc = current()
    if not acc.restricted:
        return True
    if resource is None:
        return False
    data = orjson.loads(resource) if isinstance(resource, bytes) else resource
    return isinstance(data, dict) and acc.permits(interaction, res_type, data)


def restriction(interaction: str, types: list[str]) -> list[Cond]:
    """The search restriction for rows of ``types`` (for ``Scope.extra``): [] when there is none."""
    acc = current()
    if not acc.restricted:
        return []
    free: list[str] = []
    limited: list[Cond] = []
    for t in types:
        cond = acc.condition(interaction, t)
        if cond is None:
            free.append(t)
        else:
            limited.append(Cond(f"r.res_type = %s AND ({cond.sql})", [t, *cond.args]))
    if not limited:
        return []
    if free:
        limited.append(Cond("r.res_type = ANY(%s)", [free]))
    return [any_of(limited)]


async def visible_ids(conn: Conn, interaction: str, refs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of ``(type, id)`` pairs, those the current caller may see (one query per type)."""
    acc = current()
    if not acc.restricted:
        return set(refs)
    out: set[tuple[str, str]] = set()
    by_type: dict[str, list[str]] = {}
    for t, i in refs:
        by_type.setdefault(t, []).append(i)
    for t, ids in by_type.items():
        cond = acc.condition(interaction, t)
        if cond is None:
            out.update((t, i) for i in ids)
            continue
        cur = await conn.execute(
            f"SELECT r.id FROM resource r WHERE r.res_type = %s AND r.id = ANY(%s) AND ({cond.sql})",
            [t, ids, *cond.args],
        )
        out.update((t, row[0]) for row in await cur.fetchall())
    return out
