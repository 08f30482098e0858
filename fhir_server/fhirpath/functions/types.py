"""FHIRPath type functions (http://hl7.org/fhirpath/N1/#types): ofType(), as(), is(), type()."""

from __future__ import annotations

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compiler import Compiler, Static, Step
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.functions import BOOL, check_arity, one, register, simple
from fhir_server.fhirpath.items import Item, boolean
from fhir_server.fhirpath.typesys import as_type, is_type, type_info


def _type_arg(c: Compiler, node: ast.Function) -> str:
    check_arity(c, node, 1, 1)
    arg = node.args[0]
    parts: list[str] = []
    while isinstance(arg, ast.Invoke) and isinstance(arg.member, ast.Identifier):
        parts.insert(0, arg.member.name)
        arg = arg.target
    if not isinstance(arg, ast.Identifier):
        raise c.error(f"{node.name}() expects a type name", node.pos)
    parts.insert(0, arg.name)
    return ".".join(parts)


@register("ofType")
def _of_type(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    spec = c.type_spec(_type_arg(c, node), node.pos)
    return (lambda ctx, items: [i for i in items if as_type(i, spec)]), Static(
        frozenset({spec.key}), inp.ordered
    )


@register("as")
def _as(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    """as(): N1 requires a single input item. R4's own definitions (dom-3, several search parameters)
    apply it to collections as a filter, so outside strict mode it filters like ofType()."""
    spec = c.type_spec(_type_arg(c, node), node.pos)
    strict = c.strict

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        if strict or len(items) <= 1:
            it = one(items, "as()")
            return [it] if it is not None and as_type(it, spec) else []
        return [i for i in items if as_type(i, spec)]

    return run, Static(frozenset({spec.key}), inp.ordered)


@register("is")
def _is(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    spec = c.type_spec(_type_arg(c, node), node.pos)

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        it = one(items, "is()")
        return [] if it is None else boolean(is_type(it, spec))

    return run, BOOL


@simple("type")
def _type(ctx: Ctx, items: list[Item]) -> list[Item]:
    return [Item(type_info(i), "System.TypeInfo") for i in items]
