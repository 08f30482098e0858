"""FHIRPath expression evaluation (http://hl7.org/fhirpath/N1/#expressions), compiled to closures.

Each syntax node becomes a Python closure once: an ``Eval`` (``ctx -> collection``) for an
expression, a ``Step`` (``ctx, input -> collection``) for an invocation. Alongside, a light static
typing (:class:`Static`) follows the R4 model so that strict mode can reject paths that are invalid
for the type, and member steps can bind their property lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathError, FHIRPathExecutionError, FHIRPathSemanticError
from fhir_server.fhirpath.items import Item
from fhir_server.fhirpath.navigation import (
    RESOURCE_TYPES,
    element_types,
    is_choice_property,
    member_props,
    read_dynamic,
    read_props,
)
from fhir_server.fhirpath.typesys import ancestors, is_type_name
from fhir_server.model import PRIMITIVE_TYPES, model

Eval = Callable[[Ctx], list[Item]]
Step = Callable[[Ctx, list[Item]], list[Item]]


@dataclass(frozen=True, slots=True)
class Static:
    """What is known before evaluation: possible FHIR types (None = unknown), ordered-ness."""

    types: frozenset[str] | None = None
    ordered: bool = True


UNKNOWN = Static()


def of_types(*names: str) -> Static:
    return Static(frozenset(names))


class Compiler:
    """Compiles one expression; holds the source (for messages), mode and the ``$this`` types."""

    def __init__(self, src: str, base_type: str | None, strict: bool) -> None:
        self.src = src
        self.strict = strict
        self.root = of_types(base_type) if base_type else UNKNOWN
        self.this_stack: list[Static] = [self.root]

    def error(self, message: str, pos: int) -> FHIRPathError:
        return FHIRPathSemanticError(message, pos, self.src)

    def check_ordered(self, st: Static, pos: int, what: str) -> None:
        """Strict mode: ``what`` needs an ordered input (not children()/descendants()/union)."""
        if self.strict and not st.ordered:
            raise self.error(f"{what} applied to an unordered collection", pos)

    @property
    def this(self) -> Static:
        return self.this_stack[-1]

    def with_this(self, st: Static, node: ast.Node) -> tuple[Eval, Static]:
        """Compile ``node`` as an argument evaluated per item of a collection of type ``st``."""
        self.this_stack.append(Static(st.types))
        try:
            return self.expr(node)
        finally:
            self.this_stack.pop()

    def expr(self, node: ast.Node) -> tuple[Eval, Static]:
        from fhir_server.fhirpath import operators

        if isinstance(node, ast.Literal):
            item = Item(node.value, node.type)
            return (lambda ctx: [item]), Static(frozenset({node.type}))
        if isinstance(node, ast.EmptyLiteral):
            return (lambda ctx: []), UNKNOWN
        if isinstance(node, ast.Paren):
            return self.expr(node.inner)
        if isinstance(node, ast.External):
            name = node.name
            return (lambda ctx: ctx.variable(name)), UNKNOWN
        if isinstance(node, ast.Invoke):
            return self.invoke(node)
        if isinstance(node, ast.Indexer):
            return operators.compile_indexer(self, node)
        if isinstance(node, ast.Unary):
            return operators.compile_unary(self, node)
        if isinstance(node, ast.Binary):
            return operators.compile_binary(self, node)
        if isinstance(node, ast.TypeOp):
            return operators.compile_type_op(self, node)
        return self.path_start(node)

    def invoke(self, node: ast.Invoke) -> tuple[Eval, Static]:
        target, st = self.expr(node.target)
        step, out = self.step(node.member, st)
        return (lambda ctx: step(ctx, target(ctx))), out

    def path_start(self, node: ast.Node) -> tuple[Eval, Static]:
        """An invocation at the start of a path: applies to ``$this``."""
        if isinstance(node, ast.Identifier) and not node.delimited and is_type_name(node.name):
            return self.type_name_start(node)
        if isinstance(node, ast.Identifier) and node.delimited and is_type_name(node.name):
            return self.type_name_start(node)
        step, out = self.step(node, self.this)
        return (lambda ctx: step(ctx, ctx.this)), out

    def type_name_start(self, node: ast.Identifier) -> tuple[Eval, Static]:
        """``Patient.name``: the leading type name selects $this when it is of that type."""
        name = node.name
        this_types = self.this.types
        if this_types is not None and not any(name in ancestors(t) for t in this_types):
            if element_types_any(this_types, name):
                step, out = self.step(node, self.this)
                return (lambda ctx: step(ctx, ctx.this)), out
            if self.strict:
                context = "|".join(sorted(this_types))
                raise self.error(f"{name} does not match the context type {context}", node.pos)

        def select(ctx: Ctx) -> list[Item]:
            this = ctx.this
            if len(this) == 1 and name in ancestors(this[0].type):
                return this
            return [i for i in this if _is_resource_of(i, name)]

        return select, of_types(name)

    def step(self, node: ast.Node, inp: Static) -> tuple[Step, Static]:
        from fhir_server.fhirpath.functions import compile_function

        if isinstance(node, ast.Identifier):
            return self.member(node, inp)
        if isinstance(node, ast.Function):
            return compile_function(self, node, inp)
        if isinstance(node, ast.Variable):
            ev, st = self.variable(node)
            return (lambda ctx, _inp: ev(ctx)), st
        raise self.error("invalid invocation", node.pos)

    def variable(self, node: ast.Variable) -> tuple[Eval, Static]:
        if node.name == "this":
            return (lambda ctx: ctx.this), self.this
        if node.name == "index":

            def index(ctx: Ctx) -> list[Item]:
                return [] if ctx.index is None else [Item(ctx.index, "System.Integer")]

            return index, of_types("System.Integer")
        return (lambda ctx: ctx.total), UNKNOWN

    def member(self, node: ast.Identifier, inp: Static) -> tuple[Step, Static]:
        name = node.name
        out = self.check_member(node, inp)
        cache: dict[str, object] = {}

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
                    read_props(src, props, result)  # type: ignore[arg-type]
            return result

        return step, out

    def check_member(self, node: ast.Identifier, inp: Static) -> Static:
        """Static checks of ``.name`` and the possible result types."""
        if inp.types is None:
            return UNKNOWN
        out: set[str] = set()
        known = False
        for t in inp.types:
            if is_choice_property(t, node.name):
                raise self.error(f"{node.name!r} is not an element of {t}: use the element name", node.pos)
            types = element_types(t, node.name)
            if types is not None:
                known = True
                out.update(types)
        if not known:
            if self.strict:
                names = "|".join(sorted(inp.types))
                raise self.error(f"{node.name!r} is not an element of {names}", node.pos)
            return UNKNOWN
        if out & RESOURCE_TYPES:
            return Static(None, inp.ordered)
        return Static(frozenset(out), inp.ordered)


def _is_resource_of(item: Item, name: str) -> bool:
    t = item.type
    return bool(t) and not t.startswith("System.") and name in ancestors(t)


def element_types_any(types: frozenset[str], name: str) -> bool:
    return any(element_types(t, name) is not None for t in types)


def lookup(type_name: str, name: str) -> object:
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
