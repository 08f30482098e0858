"""The JSON representation of resources (http://hl7.org/fhir/R4/json.html), checked against compiled specs.

One pass over the parsed JSON: every property must be known to its type (``resourceType`` only on
resources), arrays exactly where the element repeats, no ``null`` but the aligned ones of a
primitive array and its ``_name`` sibling, no empty objects or arrays, at most one type per choice
element, every required element present, primitives well formed, Extension ext-1, and codes in
locally expandable required value sets. Resources inside resources are checked the same way.
"""

from __future__ import annotations

from typing import Any

from fhir_server.validation.bindings import check_code_value, check_coded
from fhir_server.validation.compile import PRIMITIVE, PRIMITIVE_EXT, RESOURCE, Prop, Spec, resource_spec
from fhir_server.validation.issues import Issue, Loc, child, error, render
from fhir_server.validation.primitives import WRONG_JSON_TYPE


def _structure(out: list[Issue], message: str, loc: Loc | None, segment: str = "", index: int = -1) -> None:
    out.append(error("structure", message, child(loc, segment, index) if segment else render(loc)))


def _bad_shape(out: list[Issue], prop: Prop, problem: str, loc: Loc, index: int = -1) -> None:
    """A structure issue about the JSON value of ``prop``, named by its path (and ``_name`` key)."""
    expr = child(loc, prop.segment, index)
    key = f" (property {prop.key!r})" if prop.kind == PRIMITIVE_EXT else ""
    out.append(error("structure", f"Element '{expr}'{key} {problem}", expr))


def check_resource(value: Any, loc: Loc | None, out: list[Issue]) -> None:
    """A resource at ``loc`` (None for the root)."""
    if type(value) is not dict:
        _structure(out, "A resource must be a JSON object", loc)
        return
    rt = value.get("resourceType")
    if rt is None:
        _structure(out, "Missing 'resourceType'", loc)
        return
    spec = resource_spec(rt) if type(rt) is str else None
    if spec is None:
        out.append(error("not-supported", f"Unknown resource type {str(rt)!r}", render(loc)))
        return
    here: Loc = (None, rt, -1) if loc is None else (loc, f"ofType({rt})", -1)
    check_object(value, spec, here, out)
    contained = value.get("contained")
    if type(contained) is list and contained:
        _check_contained(value, contained, here, out)


# DomainResource's invariants on contained resources (R4, both of severity error).
DOM_2 = "Constraint failed: dom-2: 'If the resource is contained in another resource, it SHALL NOT contain nested " \
    "Resources'"
DOM_3 = "Constraint failed: dom-3: 'If the resource is contained in another resource, it SHALL be referred to from " \
    "elsewhere in the resource or SHALL refer to the containing resource'"


def _check_contained(resource: dict[str, Any], contained: list[Any], here: Loc, out: list[Issue]) -> None:
    """dom-2 (no contained resource holds contained resources) and dom-3 (each one is referenced as ``#id``
    from somewhere in the resource, or refers to its container with ``#``)."""
    where = render(here)
    if any(type(c) is dict and "contained" in c for c in contained):
        out.append(error("invariant", DOM_2, where))
    # dom-3 looks for '#'+id among the resource's references, canonicals, uris and urls: any string
    # value starting with '#' is taken (a little more lenient than the typed FHIRPath expression).
    local: set[str] = set()
    _local_refs(resource, local)
    for c in contained:
        if type(c) is not dict:
            continue
        cid = c.get("id")
        if type(cid) is str and "#" + cid in local:
            continue
        inner: set[str] = set()
        _local_refs(c, inner)
        if "#" not in inner:  # it does not refer to its container either
            out.append(error("invariant", DOM_3, where))
            return


def _local_refs(value: Any, found: set[str]) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key, item in node.items():
                if type(item) is str:
                    if item[:1] == "#" and key != "div":
                        found.add(item)
                elif type(item) is dict or type(item) is list:
                    stack.append(item)
        elif type(node) is list:
            for item in node:
                if type(item) is str:
                    if item[:1] == "#":
                        found.add(item)
                elif type(item) is dict or type(item) is list:
                    stack.append(item)


def check_object(obj: dict[str, Any], spec: Spec, loc: Loc, out: list[Issue]) -> None:
    """The properties of one JSON object of type ``spec``."""
    props = spec.props
    for key, value in obj.items():
        prop = props.get(key)
        if prop is None:
            if key != "resourceType" or not spec.resource:
                _structure(out, f"Unknown element {key!r}", loc, key)
            continue
        if value is None:
            _bad_shape(out, prop, "must not be null", loc)
        elif prop.is_array:
            _check_array(obj, prop, value, loc, out)
        elif type(value) is list:
            _bad_shape(out, prop, "must be a single value, not an array", loc)
        else:
            _check_one(prop, value, loc, -1, out)
        if prop.rivals is not None and not prop.rivals.isdisjoint(obj):
            _choice_conflict(obj, prop, loc, out)
    if len(obj) <= 1 and not spec.resource:
        _check_not_empty(obj, spec, loc, out)
    for name, keys in spec.required:
        if obj.keys().isdisjoint(keys):
            out.append(error("required", f"Missing required element {name!r}", child(loc, name)))
    if spec.extension_keys is not None:
        _check_ext1(obj, spec.extension_keys, loc, out)


def _check_not_empty(obj: dict[str, Any], spec: Spec, loc: Loc, out: list[Issue]) -> None:
    """ele-1: an element has a value or children other than ``id``."""
    if not obj:
        _structure(out, f"Element '{render(loc)}' must not be an empty object (ele-1)", loc)
    elif "id" in obj and spec.name != "Element":
        _structure(out, f"Element '{render(loc)}' must have children other than 'id' (ele-1)", loc)


def _check_one(prop: Prop, value: Any, loc: Loc, index: int, out: list[Issue]) -> None:
    kind = prop.kind
    if kind == PRIMITIVE:
        assert prop.check is not None
        reason = prop.check(value)
        if reason is not None:
            out.append(_bad_value(prop, value, reason, loc, index))
        elif prop.codes is not None:
            check_code_value(prop, value, loc, index, out)
    elif type(value) is not dict:
        _bad_shape(out, prop, "must be a JSON object", loc, index)
    elif kind == RESOURCE:
        check_resource(value, (loc, prop.segment, index), out)
    else:
        assert prop.spec is not None
        check_object(value, prop.spec, (loc, prop.segment, index), out)
        if prop.pairs is not None:
            check_coded(prop, value, loc, index, out)


def _check_array(obj: dict[str, Any], prop: Prop, value: Any, loc: Loc, out: list[Issue]) -> None:
    if type(value) is not list:
        _bad_shape(out, prop, "must be a JSON array", loc)
        return
    if not value:
        _bad_shape(out, prop, "must not be an empty array", loc)
        return
    if prop.max is not None and len(value) > prop.max:
        _bad_shape(out, prop, f"has {len(value)} values, at most {prop.max} are allowed", loc)
    if prop.kind in (PRIMITIVE, PRIMITIVE_EXT):
        _check_aligned(obj, prop, value, loc, out)
        return
    for i, item in enumerate(value):
        if item is None:
            _bad_shape(out, prop, "must not be null", loc, i)
        else:
            _check_one(prop, item, loc, i, out)


def _check_aligned(obj: dict[str, Any], prop: Prop, value: list[Any], loc: Loc, out: list[Issue]) -> None:
    """A repeating primitive or its ``_name`` array: nulls only where the other array has an entry."""
    other = obj.get(prop.partner)
    if type(other) is not list:
        other = None
    elif len(other) != len(value) and prop.kind == PRIMITIVE:
        _bad_shape(out, prop, f"and its {prop.partner!r} array must have the same length", loc)
    for i, item in enumerate(value):
        if item is not None:
            _check_one(prop, item, loc, i, out)
        elif other is None or (prop.kind == PRIMITIVE and i < len(other) and other[i] is None):
            problem = f"must not be null: only where {prop.partner!r} has an entry at the same index"
            _bad_shape(out, prop, problem, loc, i)


def _bad_value(prop: Prop, value: Any, reason: str, loc: Loc, index: int) -> Issue:
    expr = child(loc, prop.segment, index)
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    code = "structure" if reason.startswith(WRONG_JSON_TYPE) else "value"
    return error(code, f"Element '{expr}' value {shown} {reason} ({prop.type_code})", expr)


def _choice_conflict(obj: dict[str, Any], prop: Prop, loc: Loc, out: list[Issue]) -> None:
    assert prop.rivals is not None
    present = [k for k in obj if k == prop.key or k == prop.partner or k in prop.rivals]
    if present[0] != prop.key:
        return  # reported once, at the first of the conflicting keys
    name = prop.segment.split(".", 1)[0]
    _structure(out, f"Only one type is allowed for {name}[x], found {', '.join(present)}", loc, name)


def _check_ext1(obj: dict[str, Any], value_keys: frozenset[str], loc: Loc, out: list[Issue]) -> None:
    has_value = not value_keys.isdisjoint(obj)
    if has_value == ("extension" in obj):
        found = "both" if has_value else "neither"
        message = f"ext-1: an extension must have either extensions or value[x], not both (it has {found})"
        out.append(error("invariant", message, render(loc)))
