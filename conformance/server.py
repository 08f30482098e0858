"""The server's profile registry and enforced profiles (http://hl7.org/fhir/R4/validation.html#op).

:func:`attach` runs when the server starts: it loads the StructureDefinitions, ValueSets and
CodeSystems stored in the database into the registry (and the terminology overlay, so that search
``:in``/``:below`` and ``$expand`` see them), reloads them after every commit that wrote one, and,
when ``FHIR_ENFORCE_PROFILES`` names profiles for some resource types
(``Patient=http://a|http://b;Observation=http://c``), wraps the write-path validator so that those
types must meet them: failures are rule failures (HTTP 422), never structural ones (400).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from conformance.validation import Registry, server_registry
from conformance.validation import validate as profile_validate
from conformance.validation.context import Options
from fhir_server.storage.crypto import content_bytes, content_sql
from fhir_server.terminology import overlay
from fhir_server.validation.issues import Issue

log = logging.getLogger(__name__)
Json = dict[str, Any]
KINDS = ("StructureDefinition", "ValueSet", "CodeSystem")
ENV = "FHIR_ENFORCE_PROFILES"
# On write, only what the profiles add: the structural validator has checked the base definitions.
WRITE_OPTIONS = Options(base_rules=False)


@dataclass(frozen=True, slots=True)
class ProfileIssue(Issue):
    """An issue found by a profile: the resource is R4, but breaks a rule (HTTP 422)."""

    @property
    def structural(self) -> bool:
        return False


def parse_enforced(text: str) -> dict[str, tuple[str, ...]]:
    """``Patient=url1|url2;Observation=url3`` → {type: profiles}."""
    out: dict[str, tuple[str, ...]] = {}
    for part in text.split(";"):
        res_type, _, urls = part.partition("=")
        if res_type.strip() and urls.strip():
            out[res_type.strip()] = tuple(u.strip() for u in urls.split("|") if u.strip())
    return out


def load(database_url: str) -> list[Json]:
    """The current StructureDefinitions, ValueSets and CodeSystems stored on the server."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT {content_sql('r')} FROM resource r WHERE r.res_type = ANY(%s) AND NOT r.deleted", (list(KINDS),)
        ).fetchall()
    return [orjson.loads(content_bytes(r[0])) for r in rows]


def refresh(registry: Registry, database_url: str | None) -> None:
    if database_url is None:
        return
    try:
        registry.replace(load(database_url))
    except psycopg.Error as exc:  # the tables may not exist yet on a first start
        log.warning("profile registry not loaded: %s", exc)
        return
    overlay.set_global(registry.overlay)


def enforcing(base: Any, enforced: dict[str, tuple[str, ...]], registry: Registry) -> Any:
    """The write-path validator, plus the enforced profiles of the resource's type."""

    def validate(resource: Json) -> list[Issue]:
        issues: list[Issue] = base(resource)
        profiles = enforced.get(str(resource.get("resourceType")))
        if not profiles or any(i.severity in ("error", "fatal") for i in issues):
            return issues
        found = profile_validate(
            resource, registry=registry, profiles=list(profiles), options=WRITE_OPTIONS, structure=False
        )
        return issues + [ProfileIssue(i.severity, i.code, i.message, i.expression) for i in found]

    return validate


_REGISTRIES: dict[int, Registry] = {}


def registry_for(server: Any) -> Registry:
    """The registry of one running server (the process-wide one when it has none)."""
    return _REGISTRIES.get(id(server)) or server_registry()


def attach(server: Any) -> None:
    """Wire the registry and the enforced profiles into a starting server."""
    registry = Registry()
    _REGISTRIES[id(server)] = registry
    refresh(registry, server.settings.database_url)

    def after_commit(touched: set[str]) -> None:
        if touched & set(KINDS):
            refresh(registry, server.settings.database_url)

    server.commit_hooks.append(after_commit)
    enforced = parse_enforced(os.environ.get(ENV, ""))
    if enforced:
        server.validate = enforcing(server.validate, enforced, registry)
