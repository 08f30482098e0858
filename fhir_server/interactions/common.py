"""Shared pieces of the interactions (http://hl7.org/fhir/R4/http.html#summary): outcomes and write checks."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir_server import definitions
from fhir_server.errors import BadRequest, InvalidResource, NotFound, Unprocessable
from fhir_server.storage.writes import WriteSession, Written
from fhir_server.validation import Issue

Json = dict[str, Any]
ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
Validator = Callable[[Json], list[Issue]]
# Runs after a write of its resource type is staged, in the same transaction: may stage more or raise.
WriteGuard = Callable[[WriteSession, Written], Awaitable[None]]
_write_guards: dict[str, list[WriteGuard]] = {}


def register_write_guard(res_type: str, guard: WriteGuard) -> None:
    """Let a component keep an invariant across every write path (e.g. scheduling: a slot is booked once)."""
    found = _write_guards.setdefault(res_type, [])
    found[:] = [g for g in found if g.__qualname__ != guard.__qualname__ or g.__module__ != guard.__module__]
    found.append(guard)


async def guard_write(session: WriteSession, written: Written) -> None:
    for guard in _write_guards.get(written.res_type, ()):
        await guard(session, written)


@dataclass(slots=True)
class Outcome:
    """What an interaction produced: status, body (parsed or raw stored JSON) and version metadata."""

    status: int
    resource: Json | None = None
    raw: bytes | None = None
    version: int | None = None
    last_updated: datetime | None = None
    location: str | None = None  # relative: Type/id/_history/v
    issues: list[Json] = field(default_factory=list)

    @property
    def etag(self) -> str | None:
        return f'W/"{self.version}"' if self.version is not None else None


def from_written(w: Written, status: int, message: str) -> Outcome:
    return Outcome(
        status=status,
        resource=w.resource,
        version=w.version,
        last_updated=w.last_updated,
        location=w.location,
        issues=[{"severity": "information", "code": "informational", "diagnostics": message}],
    )


def check_type(res_type: str) -> None:
    if res_type not in definitions.resource_types():
        raise NotFound(f"Unknown resource type '{res_type}' (not an R4 resource type)")


def check_id(res_id: str) -> None:
    if not ID_RE.fullmatch(res_id):
        shown = res_id if res_id.isprintable() else ascii(res_id)[1:-1]  # no control characters echoed
        raise BadRequest(f"'{shown}' is not a valid resource id ([A-Za-z0-9-.]{{1,64}})")


def check_body(res_type: str, resource: Json, validate: Validator, url_id: str | None = None) -> None:
    """The body is a ``res_type`` resource, its id agrees with the URL (update), and it is valid."""
    body_type = resource.get("resourceType")
    if body_type != res_type:
        if not isinstance(body_type, str):
            raise InvalidResource("The resource has no 'resourceType'", expression=["resourceType"])
        raise BadRequest(
            f"The body is a {body_type} but the URL is for {res_type}", expression=["resourceType"]
        )
    if url_id is not None:
        body_id = resource.get("id")
        if body_id is None:
            raise BadRequest(f"An update must carry the id in the body (expected id '{url_id}')")
        if body_id != url_id:
            raise BadRequest(
                f"The body id '{body_id}' does not match the id in the URL '{url_id}'",
                expression=[f"{res_type}.id"],
            )
    errors = [i for i in validate(resource) if i.severity in ("error", "fatal")]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = f"{errors[0].message}{more}"
        oo_issues = [i.as_oo_issue() for i in errors]
        if any(i.structural for i in errors):
            raise InvalidResource(message, issues=oo_issues)
        raise Unprocessable(message, issues=oo_issues)
