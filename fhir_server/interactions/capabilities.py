"""capabilities (http://hl7.org/fhir/R4/http.html#capabilities): a CapabilityStatement of what this server does.

Generated from the code's own tables: the resource types the model knows, the interactions the
routes serve, and the search parameters the search engine has registered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

from fhir_server import FHIR_VERSION, __version__, definitions, operations
from fhir_server.fhir.json import instant, now

Json = dict[str, Any]

TYPE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create")
SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system", "history-system")

# Providers of extra parts (search parameters per type, operations, security), filled by other packages.
SearchParamsFor = Callable[[str], list[Json]]
_search_params: list[SearchParamsFor] = []
_decorators: list[Callable[[Json], None]] = []
_per_base: list[Callable[[Json, str], None]] = []


def register_search_params(provider: SearchParamsFor) -> None:
    """Set where the per-type search parameters come from (the search registry)."""
    _search_params[:] = [provider]
    _statement.cache_clear()


def refresh() -> None:
    """Rebuild the statement on next use (e.g. a custom SearchParameter was added)."""
    _statement.cache_clear()


def register_decorator(decorate: Callable[[Json], None]) -> None:
    """Let a component (auth, operations) add to the statement: ``rest.security``, ``operation``."""
    _decorators.append(decorate)
    _statement.cache_clear()


def register_base_decorator(decorate: Callable[[Json, str], None]) -> None:
    """Like ``register_decorator`` for additions that depend on the base URL: ``decorate(cs, base)``."""
    if decorate not in _per_base:
        _per_base.append(decorate)


def _resource_entry(res_type: str) -> Json:
    entry: Json = {
        "type": res_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical"],
    }
    ops = [op for op in operations.registered() if (op.type or op.instance)
           and (op.resource_types is None or res_type in op.resource_types)]
    if ops:
        entry["operation"] = [{"name": op.name, "definition": op.canonical} for op in sorted(ops, key=lambda o: o.name)]
    params: list[Json] = []
    for provider in _search_params:
        params.extend(provider(res_type))
    if params:
        entry["interaction"].append({"code": "search-type"})
        entry["searchParam"] = params
    return entry


@cache
def _statement(n_operations: int = 0) -> Json:
    """The statement (cached; ``n_operations`` changes when operations are registered)."""
    cs: Json = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": __version__},
        "implementation": {"description": "FHIR R4 server on PostgreSQL"},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource_entry(t) for t in sorted(definitions.resource_types())],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
            }
        ],
    }
    system_ops = [op for op in operations.registered() if op.system]
    if system_ops:
        cs["rest"][0]["operation"] = [{"name": op.name, "definition": op.canonical}
                                      for op in sorted(system_ops, key=lambda o: o.name)]
    for decorate in _decorators:
        decorate(cs)
    return cs


def capability_statement(base: str) -> Json:
    cached = _statement(len(operations.registered()))
    cs = copy.deepcopy(cached) if _per_base else copy.copy(cached)
    for decorate in _per_base:
        decorate(cs, base)
    cs["date"] = instant(now())
    cs["implementation"] = {**cs["implementation"], "url": base}
    return cs
