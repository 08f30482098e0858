"""Extended operations (http://hl7.org/fhir/R4/operations.html): registry, parameters, dispatch.

An operation is registered once (``@operation``) with its name, the levels it runs at (system
``/$x``, type ``/Patient/$x``, instance ``/Patient/1/$x``), the resource types it applies to and,
ideally, its OperationDefinition, which the CapabilityStatement then publishes. Operation code
lives in ``extensions/`` and ``conformance/`` (one module per operation); ``load_operations()``
imports them at start-up.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import BadRequest, MethodNotAllowed, NotFound
from fhir_server.operations.params import Params

log = logging.getLogger(__name__)
Json = dict[str, Any]
PACKAGES = ("conformance", "extensions")


@dataclass(slots=True)
class OperationResult:
    """What an operation answers: a resource (usually Parameters/Bundle/OperationOutcome) or raw bytes."""

    status: int = 200
    resource: Json | None = None
    body: bytes | None = None
    media_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class OperationContext:
    server: Any  # fhir_server.state.Server (not imported: operations are loaded by the app)
    base: str
    method: str  # GET | POST
    level: str  # system | type | instance
    res_type: str | None
    res_id: str | None
    params: Params
    body: Any = None  # the parsed POST body (a Parameters resource, or the resource some operations take)
    headers: dict[str, str] = field(default_factory=dict)
    access: Any = None  # the caller's access (fhir_server.access), when authorization is on


Handler = Callable[[OperationContext], Awaitable[OperationResult]]


@dataclass(slots=True)
class Operation:
    name: str  # without the $
    handler: Handler
    system: bool = False
    type: bool = False
    instance: bool = False
    resource_types: tuple[str, ...] | None = None  # None: every type
    affects_state: bool = False  # True: POST only
    definition: Json | None = None  # the OperationDefinition
    resource_body: bool = False  # True: a POST may carry the one input resource itself instead of Parameters

    @property
    def canonical(self) -> str:
        if self.definition and isinstance(self.definition.get("url"), str):
            return str(self.definition["url"])
        return f"http://hl7.org/fhir/OperationDefinition/{self.name}"


_REGISTRY: dict[str, list[Operation]] = {}


def operation(
    name: str,
    *,
    system: bool = False,
    type: bool = False,
    instance: bool = False,
    resource_types: tuple[str, ...] | None = None,
    affects_state: bool = False,
    definition: Json | None = None,
    resource_body: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as ``$name``."""

    def register(handler: Handler) -> Handler:
        op = Operation(name, handler, system, type, instance, resource_types, affects_state, definition,
                       resource_body)
        found = _REGISTRY.setdefault(name, [])
        found[:] = [o for o in found
                    if o.resource_types != resource_types or o.handler.__qualname__ != handler.__qualname__]
        found.append(op)
        return handler

    return register


def registered() -> list[Operation]:
    return [op for ops in _REGISTRY.values() for op in ops]


def find(name: str, level: str, res_type: str | None) -> Operation:
    """The operation for ``$name`` at this level and type, or a 404 saying why there is none."""
    candidates = _REGISTRY.get(name)
    if not candidates:
        raise NotFound(f"Unknown operation ${name}")
    for op in candidates:
        if not getattr(op, level):
            continue
        if res_type is not None and op.resource_types is not None and res_type not in op.resource_types:
            continue
        return op
    where = {"system": "on the system", "type": f"on {res_type}", "instance": f"on a {res_type} instance"}[level]
    raise NotFound(f"The operation ${name} is not available {where}")


def check_method(op: Operation, method: str) -> None:
    if method not in ("GET", "POST"):
        allow = "POST" if op.affects_state else "GET, POST"
        raise MethodNotAllowed(f"${op.name} is invoked with {'POST' if op.affects_state else 'GET or POST'}",
                               headers={"Allow": allow})
    if method == "GET" and op.affects_state:
        raise MethodNotAllowed(f"${op.name} changes data: invoke it with POST", headers={"Allow": "POST"})


def check_body(op: Operation, body: Any) -> None:
    """operations.html#request: a POST carries a Parameters resource (or, for an operation that takes one
    resource, that resource): any other body would be silently ignored, so it is refused."""
    if body is None or op.resource_body:
        return
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if kind != "Parameters":
        what = f"a {kind}" if isinstance(kind, str) else "not a resource"
        raise BadRequest(f"${op.name} takes a Parameters resource as its POST body; the body is {what}")


def load_operations() -> None:
    """Import every module of the operation packages so that their ``@operation``s register."""
    for package in PACKAGES:
        try:
            pkg = importlib.import_module(package)
        except ImportError:
            continue
        for info in pkgutil.walk_packages(pkg.__path__, package + "."):
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # a module whose optional dependency is missing
                log.warning("operation module %s not loaded: %s", info.name, exc)


def parameters_from(method: str, query: list[tuple[str, str]], body: Any) -> Params:
    """GET: the query string; POST: a Parameters body (plus the query string)."""
    pairs: list[tuple[str, Any]] = [(k, v) for k, v in query if k not in ("_format", "_pretty")]
    if method == "POST" and isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for p in body.get("parameter", []) or []:
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                raise BadRequest("Every Parameters.parameter needs a name")
            pairs.append((p["name"], p))
    return Params(pairs)
