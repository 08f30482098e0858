"""Locating FHIRPath results in the resource (http://hl7.org/fhir/R4/fhirpatch.html#paths).

FHIRPath Patch needs not only the values a path selects but where they live: the JSON object that
holds each one, its property name and array index. :func:`locate` follows member steps itself and
lets the engine run every other step (where(), first(), ``[n]``...), mapping the items it keeps back
to their locations by identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compiler import UNKNOWN, Compiler
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathError
from fhir_server.fhirpath.items import Item
from fhir_server.fhirpath.navigation import member_props, primitive_holder
from fhir_server.fhirpath.typesys import ancestors, is_type_name
from fhir_server.model import PRIMITIVE_TYPES


@dataclass(slots=True)
class Loc:
    """Where an element is: ``holder[key]`` or ``holder[key][index]`` (holder None: the resource)."""

    item: Item
    holder: dict[str, Any] | None = None
    key: str = ""  # the JSON property: "valueQuantity"
    index: int | None = None
    name: str = ""  # the element: "value"


class Locator:
    """Evaluates a path over one resource, keeping the location of every result."""

    def __init__(self, resource: dict[str, Any], source: str) -> None:
        self.root = Loc(Item(resource, str(resource.get("resourceType", ""))))
        self.source = source
        self.compiler = Compiler(source, None, False)
        self.ctx = Ctx([self.root.item], [self.root.item], None, None)

    def locate(self, node: ast.Node) -> list[Loc]:
        if isinstance(node, ast.Paren):
            return self.locate(node.inner)
        if isinstance(node, ast.Identifier):
            if is_type_name(node.name):
                return [self.root] if node.name in ancestors(self.root.item.type) else []
            return self.members([self.root], node.name)
        if isinstance(node, ast.Invoke):
            target = self.locate(node.target)
            if isinstance(node.member, ast.Identifier):
                return self.members(target, node.member.name)
            step, _ = self.compiler.step(node.member, UNKNOWN)
            return self._keep(target, step(self.ctx, [loc.item for loc in target]))
        if isinstance(node, ast.Indexer):
            target = self.locate(node.target)
            index, _ = self.compiler.expr(node.index)
            got = index(self.ctx)
            if len(got) != 1 or not isinstance(got[0].value, int):
                raise FHIRPathError("an index must be a single integer", node.pos, self.source)
            i = got[0].value
            return [target[i]] if 0 <= i < len(target) else []
        raise FHIRPathError("not a path to an element", node.pos, self.source)

    def _keep(self, locs: list[Loc], items: list[Item]) -> list[Loc]:
        by_id = {id(loc.item): loc for loc in locs}
        out = []
        for it in items:
            loc = by_id.get(id(it))
            if loc is None:
                raise FHIRPathError("the path selects values that are not elements of the resource")
            out.append(loc)
        return out

    def members(self, locs: list[Loc], name: str) -> list[Loc]:
        out: list[Loc] = []
        for loc in locs:
            it = loc.item
            value = it.ext if it.type in PRIMITIVE_TYPES else it.value
            if not isinstance(value, dict):
                continue
            for prop in member_props(primitive_holder(it.type), name) or ():
                out.extend(_prop_locs(value, prop.key, prop.type, prop.resource, name))
        return out


def _prop_locs(holder: dict[str, Any], key: str, type_: str, resource: bool, name: str) -> list[Loc]:
    v, ext = holder.get(key), holder.get("_" + key)
    if v is None and ext is None:
        return []
    if isinstance(v, list) or isinstance(ext, list):
        vals = v if isinstance(v, list) else []
        exts = ext if isinstance(ext, list) else []
        out = []
        for i in range(max(len(vals), len(exts))):
            x = vals[i] if i < len(vals) else None
            e = exts[i] if i < len(exts) else None
            if x is not None or e is not None:
                out.append(Loc(Item(x, _type_of(x, type_, resource), e), holder, key, i, name))
        return out
    return [Loc(Item(v, _type_of(v, type_, resource), ext), holder, key, None, name)]


def _type_of(value: Any, type_: str, resource: bool) -> str:
    if resource and isinstance(value, dict):
        return str(value.get("resourceType", type_))
    return type_
