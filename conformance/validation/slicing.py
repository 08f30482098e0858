"""Slicing (http://hl7.org/fhir/R4/profiling.html#slicing): assigning values to slices by discriminators.

Each value of a sliced element goes to the first slice whose discriminators all match it: value and
pattern (the slice's fixed/pattern value, or the values fixed below it, at the discriminator path;
for extensions, the ``url`` is the slice's extension profile), exists, type (the value's type or
resource type), profile (the value conforms to the slice's profile at that path). Then each slice's
cardinality is checked, and under ``closed`` rules a value that fits no slice is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.validation.context import Ctx
from conformance.validation.profile import Discriminator, Node
from conformance.validation.values import matches, same
from fhir_server import fhirpath
from fhir_server.fhirpath import FHIRPathError
from fhir_server.validation.issues import Loc

if TYPE_CHECKING:
    from conformance.validation.walk import Item

_NOTHING = object()


def assign(ctx: Ctx, items: list[Item], node: Node, loc: Loc, core: bool) -> dict[int, Node]:
    """The slice of each value (by its index), after checking slice cardinality and closed rules."""
    out: dict[int, Node] = {}
    discs = node.slicing.discriminators if node.slicing else ()
    counts = {id(s): 0 for s in node.slices}
    for item in items:
        for s in node.slices:
            if _fits(ctx, item, s, discs):
                out[item.index] = s
                counts[id(s)] += 1
                break
        else:
            if node.slicing is not None and node.slicing.rules == "closed" and not core:
                ctx.error(
                    "invalid",
                    f"This element does not match any known slice of {node.path} and slicing is CLOSED",
                    (loc, node.name, item.index if item.array else -1),
                )
    if not core:
        for s in node.slices:
            n = counts[id(s)]
            if n < s.min:
                ctx.error("structure", f"Slice '{s.id}': a matching slice is required, but not found", loc)
            if s.max is not None and n > s.max:
                ctx.error("structure", f"{s.id}: max allowed = {s.max}, but found {n}", loc)
    return out


def _fits(ctx: Ctx, item: Item, s: Node, discs: tuple[Discriminator, ...]) -> bool:
    if not discs:
        return False
    return all(_fits_one(ctx, item, s, d) for d in discs)


def _values(ctx: Ctx, item: Item, path: str) -> list[Any]:
    if path == "$this":
        return [item.value]
    try:
        return fhirpath.compile(path).evaluate(item.value, resolver=ctx.resolver)
    except FHIRPathError:
        return []


def _typed(ctx: Ctx, item: Item, path: str) -> list[str]:
    if path == "$this":
        v = item.value
        return [v["resourceType"] if isinstance(v, dict) and "resourceType" in v else item.type]
    try:
        found = fhirpath.compile(path).evaluate_typed(item.value, resolver=ctx.resolver)
    except FHIRPathError:
        return []
    return [
        str(t.value.get("resourceType")) if isinstance(t.value, dict) and "resourceType" in t.value else t.type
        for t in found
    ]


def at_path(s: Node, path: str) -> Node | None:
    node: Node | None = s
    for seg in path.split("."):
        if node is None:
            return None
        if seg in ("$this", "resolve()") or seg.startswith("ofType("):
            continue
        node = node.children.get(seg.removesuffix("[x]"))
    return node


def expected(n: Node, path: str) -> Any:
    """What a value/pattern discriminator compares with: fixed/pattern, or the values fixed below."""
    if n.has_fixed:
        return n.fixed
    if n.has_pattern:
        return n.pattern
    if path.endswith("url") and n.name == "url":
        return _NOTHING
    out = {}
    for name, child in n.children.items():
        v = expected(child, "")
        if v is not _NOTHING:
            out[name] = [v] if child.max != 1 and not isinstance(v, list) else v
    return out or _NOTHING


def _fits_one(ctx: Ctx, item: Item, s: Node, d: Discriminator) -> bool:
    target = at_path(s, d.path)
    if d.type in ("value", "pattern"):
        if d.path == "url" and (target is None or not (target.has_fixed or target.has_pattern)):
            urls = [p for t in s.types for p in t.profiles]
            return bool(urls) and any(v in urls for v in _values(ctx, item, "url"))
        want = expected(target, d.path) if target is not None else _NOTHING
        if want is _NOTHING:  # the slice fixes nothing here: only a binding can tell
            bound = target is not None and target.binding is not None and target.binding[0] == "required"
            return not bound or _bound(ctx, item, target, d.path)
        return any(matches(v, want) or same(v, want) for v in _values(ctx, item, d.path))
    if d.type == "exists":
        present = bool(_values(ctx, item, d.path))
        return present if target is None or target.min >= 1 else (not present if target.max == 0 else True)
    if d.type == "type":
        codes = target.type_codes() if target is not None else frozenset()
        return not codes or any(t in codes for t in _typed(ctx, item, d.path))
    if d.type == "profile":
        return _conforms(ctx, item, target, d.path)
    return False


def _bound(ctx: Ctx, item: Item, target: Node | None, path: str) -> bool:
    if target is None or target.binding is None:
        return False
    from conformance.validation.codes import codings, in_value_set, terminology_of

    with terminology_of(ctx):
        for v in _values(ctx, item, path):
            t = "CodeableConcept" if isinstance(v, dict) and "coding" in v else "Coding"
            if in_value_set(target.binding[1], codings(v, t if isinstance(v, dict) else "code")):
                return True
    return False


def _conforms(ctx: Ctx, item: Item, target: Node | None, path: str) -> bool:
    if target is None:
        return False
    resolve = path.endswith("resolve()")
    urls = [u for t in target.types for u in (t.targets if resolve else t.profiles)]
    if not urls:
        return False
    from conformance.validation.engine import conforms

    return any(conforms(ctx, v, u) for v in _values(ctx, item, path) for u in urls if isinstance(v, dict))
