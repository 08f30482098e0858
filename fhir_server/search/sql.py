"""SQL fragments for search (http://hl7.org/fhir/R4/search.html): parameterised conditions that compose.

Every value a client sends travels as a ``%s`` argument; only identifiers the server chose (table
names, aliases, integer pids) are written into the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Cond:
    """A SQL boolean expression with its ``%s`` arguments, in order."""

    sql: str
    args: list[Any] = field(default_factory=list)

    def __and__(self, other: Cond) -> Cond:
        return Cond(f"({self.sql}) AND ({other.sql})", [*self.args, *other.args])


def any_of(conds: list[Cond]) -> Cond:
    if not conds:
        return Cond("false")
    if len(conds) == 1:
        return conds[0]
    return Cond(" OR ".join(f"({c.sql})" for c in conds), [a for c in conds for a in c.args])


def all_of(conds: list[Cond]) -> Cond:
    if not conds:
        return Cond("true")
    if len(conds) == 1:
        return conds[0]
    return Cond(" AND ".join(f"({c.sql})" for c in conds), [a for c in conds for a in c.args])


def rows_match(table: str, cond: Cond, alias: str = "r") -> Cond:
    """The resource ``alias`` has an index row in ``table`` satisfying ``cond`` (a semi-join)."""
    return Cond(f"{alias}.rid IN (SELECT rid FROM {table} WHERE {cond.sql})", list(cond.args))


def no_rows_match(table: str, cond: Cond, alias: str = "r") -> Cond:
    """The resource ``alias`` has no such row (an anti-join: resources without any value qualify)."""
    return Cond(f"NOT EXISTS (SELECT 1 FROM {table} x WHERE x.rid = {alias}.rid AND ({cond.sql}))",
                list(cond.args))
