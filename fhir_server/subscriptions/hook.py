"""Subscription writes (R4 subscription.html#states): checked, and a ``requested`` subscription made ``active``.

The server decides the status: a Subscription it can act on (known criteria and parameters, a
supported channel) is stored as ``active``; one it cannot act on is refused with 422 and the
reason, rather than stored to fail silently. ``off`` stays off; ``error`` is the server's to set.
"""

from __future__ import annotations

from typing import Any

from fhir_server import definitions, hooks
from fhir_server.errors import Unprocessable
from fhir_server.search.compiler import Compiler
from fhir_server.search.params import RESULT_PARAMS
from fhir_server.search.params import parse as parse_search
from fhir_server.subscriptions import owner
from fhir_server.subscriptions.spec import SpecError, parse

Json = dict[str, Any]


def check_subscription(server: Any, resource: Json) -> Json:
    try:
        spec = parse(resource)
    except SpecError as exc:
        raise Unprocessable(f"Subscription: {exc}", expression=["Subscription.criteria"]) from exc
    if spec.res_type not in definitions.resource_types():
        raise Unprocessable(f"Subscription.criteria: '{spec.res_type}' is not a resource type")
    results = [n for n, _ in spec.params if n.split(":", 1)[0] in RESULT_PARAMS]
    req = parse_search(spec.params, 1000)
    compiler = Compiler(server.registry, None)
    compiler.filters(spec.res_type, req.filters)
    ignored = req.ignored + compiler.ignored + [(n, "result parameters do not apply") for n in results]
    if ignored:
        names = ", ".join(n for n, _ in ignored)
        raise Unprocessable(f"Subscription.criteria: not usable for matching: {names}",
                            expression=["Subscription.criteria"])
    if resource.get("status") in (None, "requested", "active"):
        resource = {**resource, "status": "active"}
        resource.pop("error", None)
    return owner.stamp(resource)


def install() -> None:
    hooks.register("Subscription", check_subscription)
