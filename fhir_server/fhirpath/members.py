"""FHIRPath member invocation (http://hl7.org/fhirpath/N1/#path-selection) as compiled steps.

The generic step looks up, per item type, how element ``name`` is stored (cached per step). When the
compiler knows the input type, a specialised step binds the JSON key and result type up front and
reads plain JSON without further lookups — the fast path of search indexing; items of any other
type still go through the generic step.
"""

from __future__ import annotations

from collections.abc import Callable

from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import Item
from fhir_server.fhirpath.navigation import Prop, is_choice_property, member_props, read_dynamic, read_props
from fhir_server.model import PRIMITIVE_TYPES, model

Step = Callable[[Ctx, list[Item]], list[Item]]


def lookup(type_name: str, name: str) -> tuple[Prop, ...] | bool:
    """Props for ``type_name.name``: a tuple, False (no such element), True (untyped: read JSON)."""
    if not type_name or type_name.startswith("System."):
        return True
    props = member_props(type_name, name)
    if props is not None:
        return props
    if is_choice_property(type_name, name):
        raise FHIRPathExecutionError(f"{name!r} is not an element of {type_name}: use the element name")
    return not _known(type_name)


def _known(type_name: str) -> bool:
    return model().type(type_name) is not None or type_name in model().resource_types


def generic_step(name: str) -> Step:
    cache: dict[str, tuple[Prop, ...] | bool] = {}

    def step(ctx: Ctx, items: list[Item]) -> list[Item]:
        result: list[Item] = []
        for it in items:
            t = it.type
            props = cache.get(t)
            if props is None:
                props = cache[t] = lookup(t, name)
            if props is False:
                continue
            if props is True:
                read_dynamic(it.value, name, result)
                continue
            src = it.ext if t in PRIMITIVE_TYPES else it.value
            if type(src) is dict:
                read_props(src, props, result)
        return result

    return step


def member_step(name: str, known_type: str | None) -> Step:
    """The step for ``.name``; specialised when every input item is expected to be ``known_type``."""
    generic = generic_step(name)
    if known_type is None or known_type in PRIMITIVE_TYPES:
        return generic
    props = lookup(known_type, name)
    if not isinstance(props, tuple):
        return generic
    if len(props) == 1 and not props[0].decimal and not props[0].resource:
        return _single_prop_step(known_type, props[0], generic)

    def step(ctx: Ctx, items: list[Item]) -> list[Item]:
        result: list[Item] = []
        for it in items:
            if it.type == known_type and type(it.value) is dict:
                read_props(it.value, props, result)
            else:
                result.extend(generic(ctx, [it]))
        return result

    return step


def _single_prop_step(known_type: str, prop: Prop, generic: Step) -> Step:
    key, underscore, rtype, primitive = prop.key, prop.underscore, prop.type, prop.primitive

    def step(ctx: Ctx, items: list[Item]) -> list[Item]:
        result: list[Item] = []
        for it in items:
            d = it.value
            if it.type != known_type or type(d) is not dict:
                result.extend(generic(ctx, [it]))
                continue
            v = d.get(key)
            if primitive and underscore in d:
                read_props(d, (prop,), result)
            elif v is None:
                continue
            elif type(v) is list:
                result.extend([Item(x, rtype) for x in v])
            else:
                result.append(Item(v, rtype))
        return result

    return step


def fused_path_step(known_type: str, names: list[str], fallback: Step) -> Step | None:
    """One step for ``.a.b.c`` from ``known_type`` walking raw JSON (Items only for the results).

    Possible when each element is single-typed (no choice), neither a resource nor a decimal, and
    only the last may be a primitive. Items of another type take ``fallback`` (the plain steps).
    """
    props: list[Prop] = []
    t = known_type
    for name in names:
        found = lookup(t, name) if t not in PRIMITIVE_TYPES else False
        if not isinstance(found, tuple) or len(found) != 1 or found[0].decimal or found[0].resource:
            return None
        props.append(found[0])
        t = found[0].type
    if any(p.primitive for p in props[:-1]):
        return None
    keys = [p.key for p in props[:-1]]
    last = props[-1]
    return _fused(known_type, keys, last, fallback)


def _fused(known_type: str, keys: list[str], last: Prop, fallback: Step) -> Step:
    last_key, last_us, rtype, primitive = last.key, last.underscore, last.type, last.primitive
    last_props = (last,)

    def step(ctx: Ctx, items: list[Item]) -> list[Item]:
        out: list[Item] = []
        for it in items:
            if it.type != known_type or type(it.value) is not dict:
                out.extend(fallback(ctx, [it]))
                continue
            level: list[object] = [it.value]
            for key in keys:
                nxt: list[object] = []
                for d in level:
                    v = d.get(key) if type(d) is dict else None
                    if v is None:
                        continue
                    if type(v) is list:
                        nxt.extend(v)
                    else:
                        nxt.append(v)
                level = nxt
            for d in level:
                if type(d) is not dict:
                    continue
                if primitive and last_us in d:
                    read_props(d, last_props, out)
                    continue
                v = d.get(last_key)
                if v is None:
                    continue
                if type(v) is list:
                    out.extend([Item(x, rtype) for x in v if x is not None])
                else:
                    out.append(Item(v, rtype))
        return out

    return step
