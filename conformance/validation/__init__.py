"""Profile validation (http://hl7.org/fhir/R4/validation.html): StructureDefinition-driven, any profile.

    issues = validate(resource, registry=reg, profiles=["http://hl7.org/fhir/StructureDefinition/vitalsigns"])

runs the structural validator of the write path (:mod:`fhir_server.validation`: JSON form, base
cardinality, primitive formats, required bindings), then walks the resource against its base
definition and every profile asked for or claimed: slicing, fixed/pattern values, bindings,
invariants, extensions, reference targets, Bundle rules. ``to_operation_outcome`` makes the result
an OperationOutcome. The server keeps one :class:`Registry` (:func:`server_registry`) that holds the
StructureDefinitions, ValueSets and CodeSystems stored on it.
"""

from __future__ import annotations

from typing import Any

from conformance.validation.context import Ctx, Options
from conformance.validation.engine import check_resource
from conformance.validation.registry import Registry
from fhir_server import validation as structural
from fhir_server.validation.issues import Issue, has_errors, to_operation_outcome
from fhir_server.validation.walk import DOM_3

__all__ = ["Issue", "Options", "Registry", "has_errors", "server_registry", "to_operation_outcome", "validate"]

_SERVER = Registry()


def server_registry() -> Registry:
    """The registry of the running server (refreshed when conformance resources are written)."""
    return _SERVER


def validate(
    resource: Any,
    *,
    registry: Registry | None = None,
    profiles: list[str] | tuple[str, ...] = (),
    options: Options | None = None,
    structure: bool = True,
) -> list[Issue]:
    """All issues of ``resource`` against the base R4 definitions and ``profiles`` (and its claims)."""
    opts = options or Options()
    issues = structural.validate(resource) if structure else []
    if not opts.validate_contained:
        issues = [i for i in issues if ".contained[" not in i.expression and not i.message.startswith(DOM_3)]
    if not isinstance(resource, dict) or any(i.code == "not-supported" for i in issues):
        return issues
    ctx = Ctx(registry or _SERVER, opts)
    try:
        check_resource(ctx, resource, None, list(profiles))
    except RecursionError:
        ctx.error("structure", "The resource is nested too deeply to be validated", None)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # JSON too broken for a rule: say so, no 500
        ctx.error("structure", f"The resource could not be checked against its profiles ({type(exc).__name__})", None)
    # dom-2/dom-3 are checked by both (the write path enforces them): report each finding once
    seen = {(i.severity, i.code, i.expression, i.message) for i in issues}
    return issues + [i for i in ctx.issues if (i.severity, i.code, i.expression, i.message) not in seen]
