"""Validating an instance against a compiled profile (http://hl7.org/fhir/R4/profiling.html#resources).

The walker pairs the JSON properties of each object with the profile's element nodes (through the
R4 model, which maps ``valueQuantity`` and ``_birthDate`` to their element), and checks at each
element: cardinality, slicing, allowed types, fixed/pattern values, value limits, bindings and
invariants, then descends. Where a profile does not go below an element, the walk continues with
the base definition of the element's type. Nodes of the R4 base definitions are walked with
``core=True``: their cardinality, types and required bindings are the structural validator's job,
so only what it does not check (invariants, extensions, references, data type rules) runs there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.validation import codes, datatypes, extensions, slicing, values
from conformance.validation.context import Ctx, seq
from conformance.validation.invariants import evaluate
from conformance.validation.profile import Node, profile
from conformance.validation.registry import core_url
from fhir_server import definitions
from fhir_server.fhirpath.items import Item as PathItem
from fhir_server.model import TypeInfo, model
from fhir_server.validation.issues import Loc

Json = dict[str, Any]
RESOURCE_CODES = frozenset({"Resource", "DomainResource"})


@dataclass(slots=True)
class Item:
    """One value of an element: the JSON value, its type code, and a primitive's ``_name`` object."""

    value: Any
    type: str
    ext: Json | None
    array: bool
    index: int


def group(obj: Json, info: TypeInfo) -> dict[str, list[Item]]:
    """The values of ``obj`` by element name (choice types and ``_name`` siblings folded in)."""
    out: dict[str, list[Item]] = {}
    for key, value in obj.items():
        plain = key[1:] if key.startswith("_") else key
        if key.startswith("_") and plain in obj:
            continue
        prop = info.props.get(plain)
        if prop is None:
            continue
        element, code = prop
        ext = obj.get("_" + plain)
        vals = value if key == plain else None
        items = out.setdefault(element.name, [])
        if isinstance(vals, list) or isinstance(ext, list):
            vs = vals if isinstance(vals, list) else []
            es = ext if isinstance(ext, list) else []
            for i in range(max(len(vs), len(es))):
                v, e = (vs[i] if i < len(vs) else None), (es[i] if i < len(es) else None)
                items.append(Item(v, code, e if isinstance(e, dict) else None, True, len(items)))
        else:
            items.append(Item(vals, code, ext if isinstance(ext, dict) else None, element.is_array, len(items)))
    return out


def check_object(ctx: Ctx, obj: Json, node: Node, type_name: str, loc: Loc, core: bool) -> None:
    """The children of one complex value against ``node``'s children."""
    info = model().type(type_name)
    if info is None:
        return
    groups = group(obj, info)
    for name, child in node.children.items():
        items = groups.get(name, [])
        if items or not core:
            check_element(ctx, items, child, loc, core)


def _segment(node: Node, item: Item) -> str:
    return f"{node.name}.ofType({item.type})" if node.choice else node.name


def check_element(ctx: Ctx, items: list[Item], node: Node, loc: Loc, core: bool) -> None:
    if not core:
        _cardinality(ctx, node, len(items), loc)
    assigned = slicing.assign(ctx, items, node, loc, core) if (node.slices or node.slicing) else {}
    is_ext = node.name in ("extension", "modifierExtension")
    for item in items:
        here: Loc = (loc, _segment(node, item), item.index if item.array else -1)
        check_item(ctx, item, node, here, core)
        chosen = assigned.get(item.index)
        if chosen is not None:
            check_item(ctx, item, chosen, here, False)
        elif is_ext and core and isinstance(item.value, dict):
            extensions.check_unsliced(ctx, item.value, here, loc, check_profile_root)


def _cardinality(ctx: Ctx, node: Node, count: int, loc: Loc) -> None:
    if count < node.min:
        ctx.error("structure", f"{node.path}: minimum required = {node.min}, but only found {count}", loc)
    if node.max is not None and count > node.max:
        ctx.error("structure", f"{node.path}: max allowed = {node.max}, but found {count}", loc)


def check_item(ctx: Ctx, item: Item, node: Node, loc: Loc, core: bool) -> None:
    if not core:
        allowed = _allowed(node)
        if allowed and item.type not in allowed and not _resource_fits(item, allowed):
            shown = ", ".join(sorted(allowed))
            ctx.error("structure", f"The definition allows for the types [{shown}] but found type {item.type}", loc)
            return
        if item.value is not None:
            values.check(ctx, item.value, item.type, node, loc)
            codes.check(ctx, item.value, item.type, node, loc)
    if item.value is not None:
        datatypes.check(ctx, item.value, item.type, node, loc, core)
    _invariants(ctx, item, node, loc, core)
    if item.ext is not None:
        for i, ext in enumerate(seq(item.ext.get("extension"))):
            if isinstance(ext, dict):
                extensions.check_unsliced(ctx, ext, (loc, "extension", i), loc, check_profile_root)
    if isinstance(item.value, dict):
        _descend(ctx, item, node, loc, core)


def _allowed(node: Node) -> frozenset[str]:
    codes = node.type_codes()
    return codes | {"id"} if "string" in codes and node.path.count(".") == 1 and node.name == "id" else codes


def _resource_fits(item: Item, allowed: frozenset[str]) -> bool:
    if "." in item.type:  # a backbone element (its model type is its path)
        return bool(allowed & {"BackboneElement", "Element"})
    if not isinstance(item.value, dict) or "resourceType" not in item.value:
        return False
    return bool(allowed & RESOURCE_CODES) or item.value.get("resourceType") in allowed


def _core_source(source: str) -> bool:
    return source.rsplit("/", 1)[-1] in definitions.structure_definitions() and "/StructureDefinition/" in source


def _invariants(ctx: Ctx, item: Item, node: Node, loc: Loc, core: bool) -> None:
    if not node.invariants or item.value is None:
        return
    resource = ctx.resources[-1] if ctx.resources else item.value
    env = {"rootResource": ctx.roots[-1]} if ctx.roots and ctx.roots[-1] is not resource else None
    type_name = item.type
    if isinstance(item.value, dict) and isinstance(item.value.get("resourceType"), str):
        type_name = item.value["resourceType"]
    context = PathItem(item.value, type_name, item.ext)
    for inv in node.invariants:
        if (not core and _core_source(inv.source)) or (inv.key == "dom-3" and not ctx.options.validate_contained):
            continue
        outcome = evaluate(inv, resource, context, ctx.resolver, env)
        if outcome is True:
            continue
        if outcome is False:
            ctx.add(inv.severity, "invariant", f"Constraint failed: {inv.key}: '{inv.human}'", loc)
        else:
            ctx.add("information", "informational", f"Constraint {inv.key} was not checked: {outcome}", loc)


def _descend(ctx: Ctx, item: Item, node: Node, loc: Loc, core: bool) -> None:
    value: Json = item.value
    if "resourceType" in value and (item.type in RESOURCE_CODES or model().is_resource(item.type)):
        from conformance.validation.engine import check_resource  # a resource inside a resource

        rt = value.get("resourceType")
        profiles = [p for t in node.types if t.code in (rt, "Resource") for p in t.profiles] if not core else []
        check_resource(ctx, value, loc, _one_of(ctx, value, profiles), contained=node.name == "contained")
        return
    if not core:
        for t in node.types:
            if t.code == item.type:
                for url in t.profiles:
                    check_profile_root(ctx, value, url, loc)
    target = node
    if node.content_ref is not None and not node.children:
        target = _content(ctx, node) or node
    if target.children:
        check_object(ctx, value, target, item.type, loc, core)
    elif core:
        _core_type(ctx, value, item.type, loc)


def _one_of(ctx: Ctx, value: Json, profiles: list[str]) -> list[str]:
    """A type's profiles are alternatives: the first one the value meets (else the first, for its issues)."""
    if len(profiles) <= 1:
        return profiles
    from conformance.validation.engine import conforms

    return [next((p for p in profiles if conforms(ctx, value, p)), profiles[0])]


def _content(ctx: Ctx, node: Node) -> Node | None:
    assert node.content_ref is not None
    root = node.content_ref.split(".", 1)[0]
    prof = profile(ctx.registry, core_url(root))
    return prof.by_id.get(node.content_ref) if prof is not None else None


def _core_type(ctx: Ctx, value: Json, type_name: str, loc: Loc) -> None:
    """Continue below an element with the base definition of its type (or backbone)."""
    if "." in type_name:  # a backbone element: its rules are in the resource's base definition
        prof = profile(ctx.registry, core_url(type_name.split(".", 1)[0]))
        node = prof.by_id.get(type_name) if prof is not None else None
    else:
        prof = profile(ctx.registry, core_url(type_name))
        node = prof.root if prof is not None else None
        if node is not None and node.invariants:
            _invariants(ctx, Item(value, type_name, None, False, -1), node, loc, True)
    if node is not None:
        check_object(ctx, value, node, type_name, loc, True)


def check_profile_root(ctx: Ctx, value: Json, url: str, loc: Loc) -> bool:
    """``value`` (a data type) against the profile ``url``; False when the profile is unknown."""
    prof = profile(ctx.registry, url)
    if prof is None:
        return False
    item = Item(value, prof.type, None, False, -1)
    check_item(ctx, item, prof.root, loc, False)  # descends into the children too
    return True
