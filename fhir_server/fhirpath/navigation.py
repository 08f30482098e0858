"""FHIRPath navigation over FHIR JSON (http://hl7.org/fhir/R4/fhirpath.html#simple, N1 §Path selection).

Member access is typed by the R4 model: ``Observation.value`` reads whichever ``value[x]`` property is
present and types the item by the suffix; primitives merge their ``_name`` sibling (id/extension,
arrays aligned with nulls); elements of type Resource take their type from ``resourceType``.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from fhir_server.fhirpath.items import Item, to_decimal
from fhir_server.model import PRIMITIVE_TYPES, model

RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})


class Prop:
    """How to read one JSON property of an element: key, FHIR type, primitive-ness."""

    __slots__ = ("decimal", "key", "primitive", "resource", "type", "underscore")

    def __init__(self, key: str, type_: str) -> None:
        self.key = key
        self.underscore = "_" + key
        self.type = type_
        self.primitive = type_ in PRIMITIVE_TYPES
        self.decimal = type_ == "decimal"
        self.resource = type_ in RESOURCE_TYPES


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


@cache
def member_props(type_name: str, name: str) -> tuple[Prop, ...] | None:
    """The properties that hold element ``name`` of ``type_name``; None if it has no such element."""
    info = model().type(primitive_holder(type_name))
    if info is None:
        return None
    element = info.elements.get(name)
    if element is None:
        return None
    if element.choice:
        return tuple(Prop(name + _cap(t), t) for t in element.types)
    if name == "id" and element.path.count(".") == 1 and info.kind == "resource":
        return (Prop(name, "id"),)  # R4 documents Resource.id as id; the snapshot says System.String
    return tuple(Prop(name, t) for t in element.types[:1])


def primitive_holder(type_name: str) -> str:
    """Elements of a primitive live in its id/extension: treat them as an Element."""
    return "Element" if type_name in PRIMITIVE_TYPES else type_name


@cache
def is_choice_property(type_name: str, name: str) -> bool:
    """True when ``name`` is a JSON property like ``valueQuantity``, not an element name (R4 §choice)."""
    info = model().type(type_name)
    if info is None or name in info.elements:
        return False
    prop = info.props.get(name)
    return prop is not None and prop[0].choice


@cache
def element_types(type_name: str, name: str) -> tuple[str, ...] | None:
    props = member_props(type_name, name)
    return None if props is None else tuple(p.type for p in props)


def read_props(value: dict[str, Any], props: tuple[Prop, ...], out: list[Item]) -> None:
    """Append the items of ``props`` found in the JSON object ``value`` to ``out``."""
    for p in props:
        v = value.get(p.key)
        if p.primitive:
            ext = value.get(p.underscore)
            if v is None and ext is None:
                continue
            if isinstance(v, list) or isinstance(ext, list):
                _read_primitive_list(v, ext, p, out)
            else:
                out.append(Item(to_decimal(v) if p.decimal and v is not None else v, p.type, ext))
            continue
        if v is None:
            continue
        if isinstance(v, list):
            if p.resource:
                out.extend(Item(x, _res_type(x)) for x in v)
            else:
                t = p.type
                out.extend(Item(x, t) for x in v)
        else:
            out.append(Item(v, _res_type(v) if p.resource else p.type))


def _read_primitive_list(v: Any, ext: Any, p: Prop, out: list[Item]) -> None:
    vals = v if isinstance(v, list) else ([] if v is None else [v])
    exts = ext if isinstance(ext, list) else ([] if ext is None else [ext])
    for i in range(max(len(vals), len(exts))):
        a = vals[i] if i < len(vals) else None
        e = exts[i] if i < len(exts) else None
        if a is None and e is None:
            continue
        if p.decimal and a is not None:
            a = to_decimal(a)
        out.append(Item(a, p.type, e))


def _res_type(v: Any) -> str:
    if isinstance(v, dict):
        return str(v.get("resourceType", "Resource"))
    return "Resource"


def read_dynamic(value: Any, name: str, out: list[Item]) -> None:
    """Member access on an object whose type is unknown: the JSON key, typed from the data."""
    if not isinstance(value, dict):
        return
    v = value.get(name)
    ext = value.get("_" + name)
    if v is None and ext is None:
        return
    vals = v if isinstance(v, list) else [v]
    exts = ext if isinstance(ext, list) else [ext] * len(vals)
    for i, x in enumerate(vals):
        e = exts[i] if i < len(exts) else None
        if x is None and e is None:
            continue
        out.append(Item(x, guess_type(x), e if isinstance(e, dict) else None))


def guess_type(x: Any) -> str:
    if isinstance(x, dict):
        return str(x["resourceType"]) if "resourceType" in x else ""
    if isinstance(x, bool):
        return "System.Boolean"
    if isinstance(x, int):
        return "System.Integer"
    if isinstance(x, (float, Decimal)):
        return "System.Decimal"
    if isinstance(x, str):
        return "System.String"
    return ""


def children(item: Item, out: list[Item]) -> None:
    """Append all direct child items of ``item`` (N1 §children())."""
    value = item.ext if item.type in PRIMITIVE_TYPES else item.value
    if not isinstance(value, dict):
        return
    type_name = primitive_holder(item.type)
    info = model().type(type_name)
    if info is None:
        for key in value:
            if not key.startswith("_") and key != "resourceType":
                read_dynamic(value, key, out)
        return
    seen: set[str] = set()
    for key in value:
        base = key[1:] if key.startswith("_") else key
        found = info.props.get(base)
        if found is None or found[0].name in seen:
            continue
        seen.add(found[0].name)
        props = member_props(type_name, found[0].name)
        if props:
            read_props(value, props, out)
