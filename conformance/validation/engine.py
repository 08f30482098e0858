"""Validating a resource (http://hl7.org/fhir/R4/validation.html): the base definition, the profiles asked
for, and the profiles the resource claims in ``meta.profile``.

Every resource, and every resource inside one (contained, Bundle entries, Parameters), is walked
against its R4 base definition and then against each profile: those the caller names, those its
element definition names, and the ``meta.profile`` claims the registry knows (an unknown claim is a
warning). Resource-specific rules follow: Bundles (:mod:`.bundle`) and StructureDefinitions (a
differential must give a snapshot).
"""

from __future__ import annotations

from typing import Any

from conformance.validation import bundle, walk
from conformance.validation.context import Ctx
from conformance.validation.profile import Node, profile, snapshot_of
from conformance.validation.registry import core_url
from fhir_server.model import model
from fhir_server.validation.issues import Loc

Json = dict[str, Any]
MAX_DEPTH = 40
CONTAINERS = ("Bundle", "Parameters")  # references inside resolve to their resources


def check_resource(ctx: Ctx, res: Json, loc: Loc | None, profiles: list[str], contained: bool = False) -> None:
    rt = res.get("resourceType")
    if not isinstance(rt, str) or not model().is_resource(rt) or ctx.depth > MAX_DEPTH:
        return
    if contained and not ctx.options.validate_contained:
        return
    here: Loc = (None, rt, -1) if loc is None else (loc, f"ofType({rt})", -1)
    ctx.resources.append(res)
    ctx.roots.append(ctx.roots[-1] if contained and ctx.roots else res)
    if rt in CONTAINERS:
        ctx.bundles.append(res)
    ctx.depth += 1
    try:
        base = profile(ctx.registry, core_url(rt))
        if base is not None and ctx.options.base_rules:
            _root(ctx, res, base.root, rt, here, True)
        for url in _profiles(ctx, res, profiles, here):
            _against(ctx, res, url, rt, here)
        if rt == "Bundle":
            bundle.check(ctx, res, here)
        elif rt == "StructureDefinition":
            _structure_definition(ctx, res, here)
    finally:
        ctx.depth -= 1
        ctx.resources.pop()
        ctx.roots.pop()
        if rt in CONTAINERS:
            ctx.bundles.pop()


def _profiles(ctx: Ctx, res: Json, asked: list[str], here: Loc) -> list[str]:
    meta = res.get("meta")
    claims = meta.get("profile") if isinstance(meta, dict) else None
    out: list[str] = []
    for url in [*asked, *(claims if isinstance(claims, list) else [])]:
        if isinstance(url, str) and url not in out and url != core_url(str(res.get("resourceType"))):
            out.append(url)
    return out


def _against(ctx: Ctx, res: Json, url: str, rt: str, here: Loc) -> None:
    prof = profile(ctx.registry, url)
    if prof is None:
        ctx.warning("not-found", f"Profile {url} is not known to this server, so it was not checked", here)
        return
    if prof.type != rt:
        ctx.error("structure", f"The profile {url} is for {prof.type}, not {rt}", here)
        return
    for problem in prof.errors:
        ctx.warning("informational", f"Profile {url}: {problem}", here)
    _root(ctx, res, prof.root, rt, here, False)


def _root(ctx: Ctx, res: Json, node: Node, rt: str, here: Loc, core: bool) -> None:
    if node.invariants:
        walk._invariants(ctx, walk.Item(res, rt, None, False, -1), node, here, core)
    walk.check_object(ctx, res, node, rt, here, core)


def _structure_definition(ctx: Ctx, sd: Json, here: Loc) -> None:
    """A constraint with a differential must be applicable to its base (snapshot generation)."""
    if sd.get("snapshot") or not sd.get("differential") or sd.get("derivation") != "constraint":
        return
    base = sd.get("baseDefinition")
    if not isinstance(base, str) or ctx.registry.structure_definition(base) is None:
        ctx.warning("not-found", f"The base definition {base} is not known, so the differential was not checked", here)
        return
    errors: list[str] = []
    snapshot_of(ctx.registry, sd, errors)
    for problem in errors:
        ctx.error("exception", f"Error generating the snapshot: {problem}", here)


def conforms(ctx: Ctx, value: Json, url: str) -> bool:
    """Does ``value`` (a resource or a data type) conform to the profile ``url``? (slicing by profile)"""
    prof = profile(ctx.registry, url)
    if prof is None:
        return False
    quiet = ctx.quiet()
    if "resourceType" in value:
        if value.get("resourceType") != prof.type:
            return False
        check_resource(quiet, value, None, [url])
    else:
        walk.check_profile_root(quiet, value, url, None)  # type: ignore[arg-type]
    return not any(i.severity in ("error", "fatal") for i in quiet.issues)
