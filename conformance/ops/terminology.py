"""Terminology operations (http://hl7.org/fhir/R4/terminology-service.html): ValueSet $expand and
$validate-code, CodeSystem $lookup and $subsumes.

They answer from the R4 value sets and code systems shipped with the server and those stored on it
(the registry's overlay), at type level (``url``/``system`` parameters, or a ``valueSet`` resource
in a POST) or instance level (a stored ValueSet/CodeSystem). A value set that needs a code system
not held in full (SNOMED CT, LOINC, ...) can't be expanded or checked here: 422, never a guess.
"""

from __future__ import annotations

import uuid
from typing import Any

from conformance.ops.common import registry, stored
from fhir_server import definitions, terminology
from fhir_server.errors import BadRequest, NotFound, Unprocessable
from fhir_server.fhir.json import instant, now
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.operations.params import parameters_resource
from fhir_server.terminology import overlay

Json = dict[str, Any]
OPS = definitions.operation_definitions()


async def _value_set(ctx: OperationContext) -> tuple[str, overlay.Overlay]:
    """The URL of the value set asked for, and the overlay that knows it."""
    base = registry(ctx).overlay
    given = ctx.params.resource("valueSet")
    vs = given or await stored(ctx)
    if vs is not None:
        url = vs.get("url") if isinstance(vs.get("url"), str) else f"urn:uuid:{uuid.uuid4()}"
        return str(url), overlay.Overlay([*base.resources.values(), {**vs, "url": url}])
    url = ctx.params.str("url")
    if url is None:
        raise BadRequest("Name the value set: 'url', a 'valueSet' resource, or invoke on a stored ValueSet")
    return url, base


def _known(url: str) -> None:
    if terminology.value_set(url) is None:
        raise NotFound(f"The value set {url} is not known to this server")


def _display(system: str, code: str, vs: Json | None) -> str | None:
    cs = terminology.code_system(system)
    concept = cs.concepts.get(code) if cs is not None else None
    if concept is not None and concept.display:
        return concept.display
    for inc in ((vs or {}).get("compose") or {}).get("include") or ():
        if inc.get("system") == system:
            for c in inc.get("concept") or ():
                if c.get("code") == code and c.get("display"):
                    return str(c["display"])
    return None


@operation("expand", type=True, instance=True, resource_types=("ValueSet",), definition=OPS["ValueSet-expand"])
async def expand(ctx: OperationContext) -> OperationResult:
    url, ov = await _value_set(ctx)
    count, offset = ctx.params.int("count"), ctx.params.int("offset", 0) or 0
    text = (ctx.params.str("filter") or "").lower()
    if (count is not None and count < 0) or offset < 0:
        raise BadRequest("count and offset must not be negative")
    with overlay.use(ov):
        _known(url)
        codes = terminology.expand(url)
        if codes is None:
            raise Unprocessable(f"The value set {url} can't be expanded here (it needs a code system not held in full)")
        vs = terminology.value_set(url)
        rows = [(s, c, _display(s, c, vs)) for s, c in sorted(codes)]
    if text:
        rows = [r for r in rows if text in r[1].lower() or text in (r[2] or "").lower()]
    page = rows[offset : offset + count if count is not None else None]
    params: list[Json] = [{"name": "offset", "valueInteger": offset}]
    if count is not None:
        params.append({"name": "count", "valueInteger": count})
    if text:
        params.append({"name": "filter", "valueString": text})
    expansion: Json = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": instant(now()),
        "total": len(rows),
        "offset": offset,
        "parameter": params,
    }
    if page:
        expansion["contains"] = [{"system": s, "code": c, **({"display": d} if d else {})} for s, c, d in page]
    out: Json = {
        "resourceType": "ValueSet",
        "url": url,
        "status": (vs or {}).get("status", "active"),
        "expansion": expansion,
    }
    return OperationResult(resource=out)


def _coding(ctx: OperationContext, code_name: str = "code", coding_name: str = "coding") -> tuple[str | None, str]:
    coding = ctx.params.get(coding_name)
    if isinstance(coding, dict):
        system, code = coding.get("system"), coding.get("code")
    else:
        system, code = ctx.params.str("system"), ctx.params.str(code_name)
    if not isinstance(code, str) or not code:
        raise BadRequest(f"A '{code_name}' (or '{coding_name}') is required")
    return (system if isinstance(system, str) else None), code


@operation(
    "validate-code", type=True, instance=True, resource_types=("ValueSet",), definition=OPS["ValueSet-validate-code"]
)
async def validate_code(ctx: OperationContext) -> OperationResult:
    url, ov = await _value_set(ctx)
    concept = ctx.params.get("codeableConcept")
    if isinstance(concept, dict):
        pairs = [(c.get("system"), c.get("code")) for c in concept.get("coding") or () if isinstance(c, dict)]
        display = None
    else:
        pairs = [_coding(ctx)]
        display = ctx.params.str("display")
    with overlay.use(ov):
        _known(url)
        verdicts = [(s, c, terminology.validate_code(url, s, c)) for s, c in pairs if isinstance(c, str)]
        if verdicts and all(v is None for _, _, v in verdicts):
            raise Unprocessable(f"The value set {url} can't be checked here (it needs a code system not held in full)")
        found = next(((s, c) for s, c, v in verdicts if v), None)
        shown = _display(found[0], found[1], terminology.value_set(url)) if found and found[0] else None
    values: list[tuple[str, Any]] = [("result", ("valueBoolean", found is not None))]
    if found is None:
        values.append(("message", ("valueString", f"The code is not in the value set {url}")))
    elif display and shown and display != shown:
        values = [
            ("result", ("valueBoolean", False)),
            ("message", ("valueString", f"The display '{display}' is not the display of the code ('{shown}')")),
        ]
    if shown:
        values.append(("display", ("valueString", shown)))
    return OperationResult(resource=parameters_resource(values))


async def _system(ctx: OperationContext, given: str | None) -> str:
    cs = await stored(ctx)
    system = cs.get("url") if cs is not None else given
    if not isinstance(system, str):
        raise BadRequest("A 'system' is required (or invoke the operation on a stored CodeSystem)")
    return system


@operation("lookup", type=True, instance=True, resource_types=("CodeSystem",), definition=OPS["CodeSystem-lookup"])
async def lookup(ctx: OperationContext) -> OperationResult:
    system, code = _coding(ctx)
    system = await _system(ctx, system)
    with overlay.use(registry(ctx).overlay):
        cs = terminology.code_system(system)
        if cs is None:
            raise NotFound(f"The code system {system} is not known to this server")
        concept = cs.concepts.get(code)
        resource = definitions.by_canonical(system) or registry(ctx).resource(system) or {}
    if concept is None:
        raise NotFound(f"The code '{code}' is not in the code system {system}")
    values: list[tuple[str, Any]] = [("name", ("valueString", str(resource.get("name") or system)))]
    if resource.get("version"):
        values.append(("version", ("valueString", str(resource["version"]))))
    values.append(("display", ("valueString", concept.display or code)))
    for prop, value in concept.properties:
        values.append(("property", [{"name": "code", "valueCode": prop}, {"name": "value", "valueString": value}]))
    return OperationResult(resource=parameters_resource(values))


@operation("subsumes", type=True, instance=True, resource_types=("CodeSystem",), definition=OPS["CodeSystem-subsumes"])
async def subsumes(ctx: OperationContext) -> OperationResult:
    system_a, code_a = _coding(ctx, "codeA", "codingA")
    system_b, code_b = _coding(ctx, "codeB", "codingB")
    if system_a and system_b and system_a != system_b:
        raise BadRequest("codingA and codingB must be from the same code system")
    system = await _system(ctx, system_a or system_b or ctx.params.str("system"))
    with overlay.use(registry(ctx).overlay):
        outcome = terminology.subsumes(system, code_a, code_b)
    if outcome is None:
        raise NotFound(f"The code system {system} is not known here, or does not have '{code_a}' and '{code_b}'")
    return OperationResult(resource=parameters_resource([("outcome", ("valueCode", outcome))]))
