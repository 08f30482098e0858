"""FHIRPath subsetting and combining (http://hl7.org/fhirpath/N1/#subsetting, #combining)."""

from __future__ import annotations

from collections.abc import Callable

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compare import distinct, membership
from fhir_server.fhirpath.compiler import Compiler, Static, Step
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.functions import FUNCTIONS, SAME, arg_value, check_arity, register, simple
from fhir_server.fhirpath.items import MAX_ITEMS, Item


def _ordered(name: str, lo: int, hi: int, fn: Callable[..., list[Item]]) -> None:
    """Register a function that needs an ordered input (strict mode checks it)."""

    def impl(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
        check_arity(c, node, lo, hi)
        c.check_ordered(inp, node.pos, name + "()")
        args = [c.expr(a)[0] for a in node.args]
        if not args:
            return fn, Static(inp.types)
        a0 = args[0]
        return (lambda ctx, items: fn(ctx, items, a0(ctx))), Static(inp.types)

    FUNCTIONS[name] = impl


def _first(ctx: Ctx, items: list[Item]) -> list[Item]:
    return items[:1]


def _last(ctx: Ctx, items: list[Item]) -> list[Item]:
    return items[-1:]


def _tail(ctx: Ctx, items: list[Item]) -> list[Item]:
    return items[1:]


def _count_arg(arg: list[Item], name: str) -> int | None:
    n = arg_value(arg, name)
    if n is None:
        return None
    if not isinstance(n, int) or isinstance(n, bool):
        raise FHIRPathExecutionError(f"{name}() expects an Integer")
    return n


def _skip(ctx: Ctx, items: list[Item], arg: list[Item]) -> list[Item]:
    n = _count_arg(arg, "skip")
    if n is None:
        return items
    return items[max(n, 0):]


def _take(ctx: Ctx, items: list[Item], arg: list[Item]) -> list[Item]:
    n = _count_arg(arg, "take")
    if n is None or n <= 0:
        return []
    return items[:n]


_ordered("first", 0, 0, _first)
_ordered("last", 0, 0, _last)
_ordered("tail", 0, 0, _tail)
_ordered("skip", 1, 1, _skip)
_ordered("take", 1, 1, _take)


@simple("single", out=SAME)
def _single(ctx: Ctx, items: list[Item]) -> list[Item]:
    if len(items) > 1:
        raise FHIRPathExecutionError(f"single() on a collection of {len(items)} items")
    return items


@simple("intersect", 1, out=SAME)
def _intersect(ctx: Ctx, items: list[Item], other: list[Item]) -> list[Item]:
    ctx.charge(len(items))
    has = membership(other)
    return distinct([i for i in items if has(i)])


@simple("exclude", 1, out=SAME)
def _exclude(ctx: Ctx, items: list[Item], other: list[Item]) -> list[Item]:
    ctx.charge(len(items))
    has = membership(other)
    return [i for i in items if not has(i)]


@register("union")
def _union(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    other = c.expr(node.args[0])[0]
    return (lambda ctx, items: distinct(items + other(ctx))), Static(None, False)


@register("combine")
def _combine(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    other = c.expr(node.args[0])[0]

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        more = other(ctx)
        if len(items) + len(more) > MAX_ITEMS:
            raise FHIRPathExecutionError(f"combine() would produce more than {MAX_ITEMS} items")
        return items + more

    return run, Static(None, False)
