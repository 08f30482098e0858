"""FHIR RESTful interaction of a request (R4 CodeSystem restful-interaction; http.html#summary), from its matched route.

The router leaves the endpoint of the route it matched in the ASGI scope (``scope["endpoint"]``): one
dictionary look-up gives the interaction, and the path parameters give the resource type and
operation. Values that come from the URL are only used when the server knows them (an R4 resource
type, a registered operation), so metric label sets stay bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, NamedTuple

from fhir_server import definitions, operations
from fhir_server.rest import routes


class Labels(NamedTuple):
    interaction: str  # a restful-interaction code, "other" (a non-FHIR route) or "unmatched" (no route)
    type: str  # the R4 resource type ("" when none, "unknown" when the URL names no R4 type)
    operation: str  # the operation's name without "$" ("" when not an operation)


UNMATCHED = Labels("unmatched", "", "")
OTHER = Labels("other", "", "")
_METHODS = {"GET": "read", "HEAD": "read", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}
_CONDITIONAL = {"GET": "search-type", "HEAD": "search-type", "POST": "create", "PUT": "update",
                "DELETE": "delete", "PATCH": "patch"}
_known_operations: set[str] = set()
_types: frozenset[str] = frozenset()


def _type(name: Any) -> str:
    global _types
    if not _types:
        _types = definitions.resource_types()
    return name if name in _types else "unknown"


def _operation(name: str, res_type: str) -> Labels:
    op = name[1:]
    if op not in _known_operations:
        _known_operations.update(o.name for o in operations.registered())
        if op not in _known_operations:
            op = "unknown"
    return Labels("operation", res_type, op)


def _metadata(method: str, p: dict[str, Any]) -> Labels:
    return Labels("capabilities", "", "")


def _system(method: str, p: dict[str, Any]) -> Labels:
    # POST [base] carries a batch or a transaction Bundle: only its body tells which
    return Labels("search-system" if method in ("GET", "HEAD") else "batch-or-transaction", "", "")


def _system_history(method: str, p: dict[str, Any]) -> Labels:
    return Labels("history-system", "", "")


def _type_level(method: str, p: dict[str, Any]) -> Labels:
    name = p.get("type", "")
    if name.startswith("$"):
        return _operation(name, "")
    return Labels(_CONDITIONAL.get(method, "unknown"), _type(name), "")


def _type_search(method: str, p: dict[str, Any]) -> Labels:
    return Labels("search-type", _type(p.get("type")), "")


def _type_history(method: str, p: dict[str, Any]) -> Labels:
    return Labels("history-type", _type(p.get("type")), "")


def _instance(method: str, p: dict[str, Any]) -> Labels:
    res_type = _type(p.get("type"))
    if p.get("id", "").startswith("$"):
        return _operation(p["id"], res_type)
    return Labels(_METHODS.get(method, "unknown"), res_type, "")


def _instance_history(method: str, p: dict[str, Any]) -> Labels:
    return Labels("history-instance", _type(p.get("type")), "")


def _vread(method: str, p: dict[str, Any]) -> Labels:
    return Labels("vread", _type(p.get("type")), "")


def _compartment(method: str, p: dict[str, Any]) -> Labels:
    ctype = p.get("ctype", "")
    if ctype.startswith("$"):
        return _operation(ctype, _type(p.get("type")))
    return Labels("search-compartment", _type(ctype), "")


Classifier = Callable[[str, dict[str, Any]], Labels]
BY_ENDPOINT: dict[Any, Classifier] = {
    routes.metadata: _metadata,
    routes.system: _system,
    routes.system_history: _system_history,
    routes.type_level: _type_level,
    routes.type_search_post: _type_search,
    routes.type_history: _type_history,
    routes.instance: _instance,
    routes.instance_history: _instance_history,
    routes.vread: _vread,
    routes.compartment: _compartment,
}


def labels(scope: MutableMapping[str, Any]) -> Labels:
    """The interaction labels of a request whose handling is over (the router has filled the scope)."""
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return UNMATCHED
    classify = BY_ENDPOINT.get(endpoint)
    if classify is None:
        return OTHER
    return classify(scope["method"], scope.get("path_params") or {})


def templates(routes: list[Any]) -> dict[Any, str]:
    """Endpoint → path template (``/{type}/{id}``) of an app's routes, for span names."""
    out: dict[Any, str] = {}
    for route in routes:
        endpoint, path = getattr(route, "endpoint", None), getattr(route, "path", None)
        if endpoint is not None and isinstance(path, str):
            out.setdefault(endpoint, path)
    return out
