"""FHIRPath filtering and projection (http://hl7.org/fhirpath/N1/#filtering-and-projection), tree
navigation (children, descendants), aggregate, sort, iif and trace.
"""

from __future__ import annotations

import functools
import logging
from collections import deque

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compare import compare
from fhir_server.fhirpath.compiler import UNKNOWN, Compiler, Eval, Static, Step
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathError, FHIRPathExecutionError
from fhir_server.fhirpath.functions import check_arity, one, register
from fhir_server.fhirpath.functions.existence import is_true
from fhir_server.fhirpath.items import MAX_ITEMS, Item
from fhir_server.fhirpath.navigation import children

_TRACE = logging.getLogger("fhir_server.fhirpath.trace")


def _lambda(c: Compiler, node: ast.Function, inp: Static, index: int = 0) -> Eval:
    return c.with_this(inp, node.args[index])[0]


@register("where")
def _where(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    crit = _lambda(c, node, inp)

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        if not items:
            return items
        saved, saved_index = ctx.this, ctx.index
        out = []
        try:
            for i, it in enumerate(items):
                ctx.this, ctx.index = [it], i
                if is_true(crit(ctx)):
                    out.append(it)
        finally:
            ctx.this, ctx.index = saved, saved_index
        return out

    return run, Static(inp.types, inp.ordered)


@register("select")
def _select(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    proj, st = c.with_this(inp, node.args[0])

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        saved, saved_index = ctx.this, ctx.index
        out: list[Item] = []
        try:
            for i, it in enumerate(items):
                ctx.this, ctx.index = [it], i
                out.extend(proj(ctx))
                if len(out) > MAX_ITEMS:
                    raise FHIRPathExecutionError(f"select() produced more than {MAX_ITEMS} items")
        finally:
            ctx.this, ctx.index = saved, saved_index
        return out

    return run, Static(st.types, inp.ordered)


MAX_REPEAT = 10_000
"""The most items repeat() collects (``1.repeat($this + 1)`` would never end)."""


@register("repeat")
def _repeat(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    proj = _lambda(c, node, Static(None))

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        saved = ctx.this
        out: list[Item] = []
        seen: set[object] = set()  # id() of elements, (type, value) of hashable primitives
        queue = deque(items)
        try:
            while queue:
                ctx.charge(1)
                it = queue.popleft()
                ctx.this = [it]
                for new in proj(ctx):
                    key = _repeat_key(new)
                    if key is None:
                        if any(_same(new, o) for o in out):
                            continue
                    elif key in seen:
                        continue
                    else:
                        seen.add(key)
                    out.append(new)
                    queue.append(new)
                    if len(out) > MAX_REPEAT:
                        raise FHIRPathExecutionError(f"repeat() produced more than {MAX_REPEAT} items")
        finally:
            ctx.this = saved
        return out

    return run, Static(None, False)


def _repeat_key(it: Item) -> object:
    """What identifies an item for repeat(): an element by identity, a primitive by type and value
    (None when the value cannot be hashed: compared one by one)."""
    v = it.value
    if isinstance(v, dict):
        return id(v)
    try:
        hash(v)
    except TypeError:
        return None
    return (it.type, v)


def _same(a: Item, b: Item) -> bool:
    return a.type == b.type and a.value == b.value


@register("aggregate")
def _aggregate(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 2)
    agg = _lambda(c, node, inp)
    init = c.expr(node.args[1])[0] if len(node.args) > 1 else None

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        saved, saved_index, saved_total = ctx.this, ctx.index, ctx.total
        total = init(ctx) if init is not None else []
        try:
            for i, it in enumerate(items):
                ctx.this, ctx.index, ctx.total = [it], i, total
                total = agg(ctx)
        finally:
            ctx.this, ctx.index, ctx.total = saved, saved_index, saved_total
        return total

    return run, UNKNOWN


@register("sort")
def _sort(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    keys: list[tuple[Eval, bool]] = []
    for arg in node.args:
        desc = isinstance(arg, ast.Unary) and arg.op == "-"
        expr = arg.operand if isinstance(arg, ast.Unary) and desc else arg
        keys.append((c.with_this(inp, expr)[0], desc))

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        ctx.charge(len(items))
        saved = ctx.this
        try:
            rows = []
            for it in items:
                ctx.this = [it]
                row: list[Item | None] = [one(k(ctx), "sort key") for k, _ in keys] if keys else [it]
                rows.append((it, row))
        finally:
            ctx.this = saved
        descs = [d for _, d in keys] or [False]

        def cmp(a: tuple[Item, list[Item | None]], b: tuple[Item, list[Item | None]]) -> int:
            for x, y, desc in zip(a[1], b[1], descs, strict=True):
                r = _key_cmp(x, y)
                if r:
                    return -r if desc else r
            return 0

        return [it for it, _ in sorted(rows, key=functools.cmp_to_key(cmp))]

    return run, Static(inp.types)


def _key_cmp(x: Item | None, y: Item | None) -> int:
    if x is None or y is None:
        return (x is None) - (y is None) if x is not y else 0
    return compare(x, y) or 0


@register("iif")
def _iif(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 2, 3)
    crit_node = node.args[0]
    if c.strict and isinstance(crit_node, ast.Literal) and crit_node.type != "System.Boolean":
        raise c.error("iif() criterion must be a Boolean", crit_node.pos)
    crit, then = _lambda(c, node, inp, 0), _lambda(c, node, inp, 1)
    other = _lambda(c, node, inp, 2) if len(node.args) > 2 else None

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        if len(items) > 1:
            raise FHIRPathError("iif() can only be applied to a single item")
        saved = ctx.this
        if items:
            ctx.this = items
        try:
            if is_true(crit(ctx)):
                return then(ctx)
            return other(ctx) if other is not None else []
        finally:
            ctx.this = saved

    return run, UNKNOWN


@register("trace")
def _trace(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 2)
    label = c.expr(node.args[0])[0]
    projection = _lambda(c, node, inp, 1) if len(node.args) > 1 else None

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        if _TRACE.isEnabledFor(logging.DEBUG):
            shown = items
            if projection is not None:
                saved = ctx.this
                ctx.this = items
                try:
                    shown = projection(ctx)
                finally:
                    ctx.this = saved
            name = "".join(str(i.value) for i in label(ctx))
            _TRACE.debug("%s: %r", name, [i.value for i in shown])
        return items

    return run, Static(inp.types, inp.ordered)


@register("children")
def _children(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 0, 0)

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        out: list[Item] = []
        for it in items:
            children(it, out)
        return out

    return run, Static(None, False)


@register("descendants")
def _descendants(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 0, 0)
    return descendants, Static(None, False)


def descendants(ctx: Ctx | None, items: list[Item]) -> list[Item]:
    out: list[Item] = []
    level = items
    while level:
        nxt: list[Item] = []
        for it in level:
            children(it, nxt)
        out.extend(nxt)
        level = nxt
    return out
