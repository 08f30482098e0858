"""FHIRPath evaluation context (http://hl7.org/fhirpath/N1/#environment-variables): one per evaluation.

Holds ``$this``/``$index``/``$total`` while iterating, the environment variables (%resource,
%rootResource, %context, %ucum, %sct, %loinc, %vs-*, %ext-*, and the caller's own), the reference
resolver and the moment of ``now()``. Nothing here is shared between evaluations: thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import Item, system_item

Resolver = Callable[[str], dict[str, Any] | None]

_FIXED_ENV = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}


MAX_SECONDS = 2.0
"""How long one evaluation may run once it is doing real work (client expressions: no hang)."""
WORK_CHECK = 10_000
"""Items of work between two looks at the clock (small evaluations never look)."""


class Ctx:
    """State of one evaluation."""

    __slots__ = (
        "_now", "context", "deadline", "env", "index", "next_check", "regex_time", "resolver", "resource",
        "root_resource", "this", "total", "work",
    )

    def __init__(
        self,
        this: list[Item],
        resource: list[Item],
        env: dict[str, Any] | None,
        resolver: Resolver | None,
    ) -> None:
        self.this = this
        self.context = this
        self.resource = resource
        self.root_resource = resource
        self.env = env
        self.resolver = resolver
        self.index: int | None = None
        self.total: list[Item] = []
        self._now: datetime | None = None
        self.regex_time = 0.0  # seconds spent matching regular expressions (bounded per evaluation)
        self.work = 0  # items the collection functions went through (see charge())
        self.next_check = WORK_CHECK
        self.deadline = 0.0

    def charge(self, items: int) -> None:
        """Count ``items`` of work; past every WORK_CHECK items, look at the clock. An evaluation that
        has done more than WORK_CHECK items of work for longer than MAX_SECONDS is stopped."""
        self.work += items
        if self.work >= self.next_check:
            now = time.monotonic()
            if not self.deadline:
                self.deadline = now + MAX_SECONDS
            elif now > self.deadline:
                raise FHIRPathExecutionError(f"the expression took longer than {MAX_SECONDS} s to evaluate")
            self.next_check = self.work + WORK_CHECK

    def now(self) -> datetime:
        """The same instant for every now()/today()/timeOfDay() of one evaluation."""
        if self._now is None:
            self._now = datetime.now().astimezone()
        return self._now

    def variable(self, name: str) -> list[Item]:
        """The value of ``%name``; raises FHIRPathExecutionError for an unknown variable."""
        if self.env is not None and name in self.env:
            return to_items(self.env[name])
        if name == "resource":
            return self.resource
        if name == "rootResource":
            return self.root_resource
        if name == "context":
            return self.context
        fixed = _FIXED_ENV.get(name)
        if fixed is not None:
            return [Item(fixed, "System.String")]
        if name.startswith("vs-"):
            return [Item("http://hl7.org/fhir/ValueSet/" + name[3:], "System.String")]
        if name.startswith("ext-"):
            return [Item("http://hl7.org/fhir/StructureDefinition/" + name[4:], "System.String")]
        raise FHIRPathExecutionError(f"unknown environment variable %{name}")


def to_items(value: Any) -> list[Item]:
    """Caller-supplied values (Items, dicts, Python values or lists of them) as a collection."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out: list[Item] = []
    for v in values:
        if isinstance(v, Item):
            out.append(v)
        elif isinstance(v, dict):
            out.append(Item(v, str(v.get("resourceType", ""))))
        elif v is not None:
            out.append(system_item(v))
    return out
