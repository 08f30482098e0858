"""FHIRPath functions (http://hl7.org/fhirpath/N1/#functions): the registry and how calls compile.

A function module registers, per name, a compile-time implementation that receives the compiler,
the call node and the static type of its input, and returns the runtime step and its result type.
:func:`simple` covers the common case: arguments evaluated once per call against ``$this``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compiler import UNKNOWN, Compiler, Static, Step, of_types
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import Item

Impl = Callable[[Compiler, ast.Function, Static], tuple[Step, Static]]
FUNCTIONS: dict[str, Impl] = {}
SAME = "same"
BOOL = of_types("System.Boolean")
STRING = of_types("System.String")
INTEGER = of_types("System.Integer")


def register(name: str) -> Callable[[Impl], Impl]:
    def deco(impl: Impl) -> Impl:
        FUNCTIONS[name] = impl
        return impl

    return deco


def check_arity(c: Compiler, node: ast.Function, lo: int, hi: int) -> None:
    n = len(node.args)
    if not lo <= n <= hi:
        expected = str(lo) if lo == hi else f"{lo}..{hi}"
        raise c.error(f"{node.name}() takes {expected} argument(s), got {n}", node.pos)


def simple(name: str, lo: int = 0, hi: int | None = None, out: Static | str | None = None) -> Callable[
    [Callable[..., list[Item]]], Callable[..., list[Item]]
]:
    """Register ``fn(ctx, input, *args)`` where each arg is the evaluated argument collection."""
    top = lo if hi is None else hi

    def deco(fn: Callable[..., list[Item]]) -> Callable[..., list[Item]]:
        def impl(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
            check_arity(c, node, lo, top)
            args = [c.expr(a)[0] for a in node.args]
            st = _out_static(out, inp)
            return _bind(fn, args), st

        FUNCTIONS[name] = impl
        return fn

    return deco


def _out_static(out: Static | str | None, inp: Static) -> Static:
    if out == SAME:
        return Static(inp.types, inp.ordered)
    return out if isinstance(out, Static) else UNKNOWN


def _bind(fn: Callable[..., list[Item]], args: list[Callable[[Ctx], list[Item]]]) -> Step:
    if not args:
        return fn
    if len(args) == 1:
        a0 = args[0]
        return lambda ctx, items: fn(ctx, items, a0(ctx))
    return lambda ctx, items: fn(ctx, items, *(a(ctx) for a in args))


def compile_function(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    impl = FUNCTIONS.get(node.name)
    if impl is None:
        raise c.error(f"unknown function {node.name}()", node.pos)
    return impl(c, node, inp)


def one(items: list[Item], what: str) -> Item | None:
    """The single item of an argument/input collection, None if empty; raises if several."""
    if not items:
        return None
    if len(items) > 1:
        raise FHIRPathExecutionError(f"{what} expects a single item, got {len(items)}")
    return items[0]


def arg_value(items: list[Item], what: str) -> Any:
    it = one(items, what)
    return None if it is None else it.value


from fhir_server.fhirpath.functions import (  # noqa: E402
    boundary,
    conversion,
    existence,
    fhir,
    filtering,
    math,
    strings,
    subsetting,
    types,
)

__all__ = ["FUNCTIONS", "boundary", "compile_function", "conversion", "existence", "fhir", "filtering",
           "math", "strings", "subsetting", "types"]
