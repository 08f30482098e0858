"""$validate (http://hl7.org/fhir/R4/resource-operation-validate.html) on ``[type]`` and ``[type]/[id]``.

The resource comes as the ``resource`` parameter of a Parameters body, or as the body itself
(type level), or is the stored one (instance level, GET). ``profile`` names a profile to validate
against as well as the base definition and the resource's claims; ``mode`` is create, update,
delete or profile. The answer is an OperationOutcome with status 200 whenever the validation ran,
whatever it found; a request that can't be run (no resource, an unknown profile or mode) is a 400.
"""

from __future__ import annotations

from typing import Any

from conformance.ops.common import registry, stored
from conformance.validation import to_operation_outcome, validate
from conformance.validation.profile import profile
from fhir_server import definitions
from fhir_server.errors import BadRequest
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.validation.issues import Issue

Json = dict[str, Any]
MODES = ("create", "update", "delete", "profile")


def _resource(ctx: OperationContext) -> Json | None:
    if "resource" in ctx.params.names():
        return ctx.params.resource("resource")
    body = ctx.body
    if isinstance(body, dict) and body.get("resourceType") not in (None, "Parameters"):
        return body
    return None


def _mode_issues(mode: str | None, ctx: OperationContext, resource: Json) -> list[Issue]:
    if mode == "update" and ctx.res_id is not None and resource.get("id") != ctx.res_id:
        return [Issue("error", "invalid", f"For an update the resource id must be '{ctx.res_id}'", "")]
    if mode == "update" and ctx.res_id is None and not resource.get("id"):
        return [Issue("error", "required", "For an update the resource must have an id", "")]
    return []


@operation("validate", type=True, instance=True, definition=definitions.operation_definitions()["Resource-validate"],
           resource_body=True)
async def validate_op(ctx: OperationContext) -> OperationResult:
    mode = ctx.params.str("mode")
    if mode is not None and mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}, not '{mode}'")
    reg = registry(ctx)
    url = ctx.params.str("profile")
    if url is not None and profile(reg, url) is None:
        raise BadRequest(f"The profile {url} is not known to this server, so it can't be validated against")
    resource = _resource(ctx) or (await stored(ctx) if ctx.level == "instance" else None)
    if resource is None:
        raise BadRequest("Nothing to validate: send the resource as the body or as the 'resource' parameter")
    if mode == "delete":
        return OperationResult(resource=to_operation_outcome([]))
    if ctx.res_type is not None and resource.get("resourceType") != ctx.res_type:
        raise BadRequest(
            f"The resource is a {resource.get('resourceType')}, but $validate was invoked on {ctx.res_type}"
        )
    issues = _mode_issues(mode, ctx, resource)
    issues += validate(resource, registry=reg, profiles=[url] if url else [])
    return OperationResult(resource=to_operation_outcome(issues))
