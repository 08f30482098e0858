"""FHIRPath existence functions (http://hl7.org/fhirpath/N1/#existence) and not() (§Boolean logic)."""

from __future__ import annotations

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compare import distinct, membership
from fhir_server.fhirpath.compiler import Compiler, Static, Step
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.functions import BOOL, INTEGER, SAME, check_arity, one, register, simple
from fhir_server.fhirpath.items import FALSE, TRUE, Item, boolean


@simple("empty", out=BOOL)
def _empty(ctx: Ctx, items: list[Item]) -> list[Item]:
    return [FALSE if items else TRUE]


@simple("count", out=INTEGER)
def _count(ctx: Ctx, items: list[Item]) -> list[Item]:
    return [Item(len(items), "System.Integer")]


@simple("distinct", out=SAME)
def _distinct(ctx: Ctx, items: list[Item]) -> list[Item]:
    ctx.charge(len(items))
    return distinct(items)


@simple("isDistinct", out=BOOL)
def _is_distinct(ctx: Ctx, items: list[Item]) -> list[Item]:
    ctx.charge(len(items))
    return boolean(len(distinct(items)) == len(items))


@simple("not", out=BOOL)
def _not(ctx: Ctx, items: list[Item]) -> list[Item]:
    it = one(items, "not()")
    if it is None:
        return []
    # singleton evaluation: a single non-Boolean item counts as true
    return [TRUE if it.value is False else FALSE]


def _bools(items: list[Item], name: str) -> list[bool]:
    out = []
    for it in items:
        if not isinstance(it.value, bool):
            raise FHIRPathExecutionError(f"{name}() expects Booleans")
        out.append(it.value)
    return out


@simple("allTrue", out=BOOL)
def _all_true(ctx: Ctx, items: list[Item]) -> list[Item]:
    return boolean(all(_bools(items, "allTrue")))


@simple("anyTrue", out=BOOL)
def _any_true(ctx: Ctx, items: list[Item]) -> list[Item]:
    return boolean(any(_bools(items, "anyTrue")))


@simple("allFalse", out=BOOL)
def _all_false(ctx: Ctx, items: list[Item]) -> list[Item]:
    return boolean(not any(_bools(items, "allFalse")))


@simple("anyFalse", out=BOOL)
def _any_false(ctx: Ctx, items: list[Item]) -> list[Item]:
    return boolean(not all(_bools(items, "anyFalse")))


@simple("subsetOf", 1, out=BOOL)
def _subset_of(ctx: Ctx, items: list[Item], other: list[Item]) -> list[Item]:
    ctx.charge(len(items))
    has = membership(other)
    return boolean(all(has(i) for i in items))


@simple("supersetOf", 1, out=BOOL)
def _superset_of(ctx: Ctx, items: list[Item], other: list[Item]) -> list[Item]:
    ctx.charge(len(items))
    has = membership(items)
    return boolean(all(has(i) for i in other))


def is_true(items: list[Item]) -> bool:
    """A criteria result as a Boolean (N1 §Singleton evaluation): empty is false, a single Boolean
    is its value, any other single item is true, several items are an error."""
    if not items:
        return False
    if len(items) > 1:
        raise FHIRPathExecutionError("a criteria expression must produce a single Boolean")
    v = items[0].value
    return v is True or not isinstance(v, bool)


@register("exists")
def _exists(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 0, 1)
    if not node.args:
        return (lambda ctx, items: [TRUE if items else FALSE]), BOOL
    crit, _ = c.with_this(inp, node.args[0])

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        saved, saved_index = ctx.this, ctx.index
        try:
            for i, it in enumerate(items):
                ctx.this, ctx.index = [it], i
                if is_true(crit(ctx)):
                    return [TRUE]
            return [FALSE]
        finally:
            ctx.this, ctx.index = saved, saved_index

    return run, BOOL


@register("all")
def _all(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    crit, _ = c.with_this(inp, node.args[0])

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        saved, saved_index = ctx.this, ctx.index
        try:
            for i, it in enumerate(items):
                ctx.this, ctx.index = [it], i
                if not is_true(crit(ctx)):
                    return [FALSE]
            return [TRUE]
        finally:
            ctx.this, ctx.index = saved, saved_index

    return run, BOOL
