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
from fhir_server.fhirpath.errors import FHIRPathError, FHIRPathSemanticError
from fhir_server.fhirpath.items import Item
from fhir_server.fhirpath.members import fused_path_step, member_step
from fhir_server.fhirpath.navigation import RESOURCE_TYPES, element_types, is_choice_property
from fhir_server.fhirpath.typesys import TypeSpec, ancestors, is_type_name, resolve_type
from fhir_server.model import model

Eval = Callable[[Ctx], list[Item]]
Step = Callable[[Ctx, list[Item]], list[Item]]


@dataclass(frozen=True, slots=True)
class Static:
    """What is known before evaluation: possible FHIR types (None = unknown), ordered-ness."""

    types: frozenset[str] | None = None
    ordered: bool = True


UNKNOWN = Static()
NOTHING = Static(frozenset())  # statically known to be empty (a type branch that cannot match)
# functions whose result is empty when their input is empty
_EMPTY_IN_EMPTY_OUT = frozenset(
    {
        "where", "select", "ofType", "as", "first", "last", "tail", "skip", "take", "single", "distinct",
        "resolve", "extension", "children", "descendants", "repeat", "exclude", "intersect", "trace",
        "toString", "toInteger", "toDecimal", "toDate", "toDateTime", "toQuantity", "toBoolean",
        "lowBoundary", "highBoundary", "getValue",
    }
)


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

    def type_spec(self, name: str, pos: int) -> TypeSpec:
        """A type specifier resolved at compile time; unknown types are a semantic error."""
        try:
            return resolve_type(name)
        except FHIRPathError as e:
            raise self.error(e.message, pos) from e

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
        """A chain ``a.b.c()``: one closure looping over the steps (no nested calls per step)."""
        members: list[ast.Node] = []
        start: ast.Node = node
        while isinstance(start, ast.Invoke):
            members.append(start.member)
            start = start.target
        first, st = self.expr(start)
        steps: list[tuple[Step, bool]] = []
        members.reverse()
        i = 0
        while i < len(members):
            run = _identifier_run(members, i)
            if len(run) > 1 and st.types is not None and len(st.types) == 1:
                fused, out = self.fused(run, st)
                if fused is not None:
                    steps.append((fused, True))
                    st, i = out, i + len(run)
                    continue
            member = members[i]
            step, out = self.step(member, st)
            if st is NOTHING and _keeps_empty(member):
                return (lambda ctx: []), NOTHING
            steps.append((step, _keeps_empty(member)))
            st, i = out, i + 1
        return _chain(first, steps), st

    def fused(self, run: list[ast.Identifier], st: Static) -> tuple[Step | None, Static]:
        """``.a.b.c`` from a known type as one raw-JSON step (see members.fused_path_step)."""
        plain: list[Step] = []
        out = st
        for ident in run:
            step, out = self.member(ident, out)
            plain.append(step)

        def fallback(ctx: Ctx, items: list[Item]) -> list[Item]:
            for s in plain:
                items = s(ctx, items)
            return items

        assert st.types is not None
        known = next(iter(st.types))
        return fused_path_step(known, [i.name for i in run], fallback), out

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
            if not any(t in ancestors(name) for t in this_types):
                return (lambda ctx: []), NOTHING

        if this_types and all(name in ancestors(t) for t in this_types):
            return (lambda ctx: ctx.this), Static(this_types)

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
        out = self.check_member(node, inp)
        known = next(iter(inp.types)) if inp.types is not None and len(inp.types) == 1 else None
        return member_step(node.name, known), out

    def check_member(self, node: ast.Identifier, inp: Static) -> Static:
        """Static checks of ``.name`` and the possible result types."""
        if inp.types is None or not all(_modelled(t) for t in inp.types):
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


def _modelled(type_name: str) -> bool:
    """Types whose elements we know (System types have none; logical models are not modelled)."""
    return type_name.startswith("System.") or model().type(type_name) is not None


def _identifier_run(members: list[ast.Node], i: int) -> list[ast.Identifier]:
    run: list[ast.Identifier] = []
    while i < len(members) and isinstance(members[i], ast.Identifier):
        run.append(members[i])  # type: ignore[arg-type]
        i += 1
    return run


def _chain(first: Eval, steps: list[tuple[Step, bool]]) -> Eval:
    if len(steps) == 1:
        only = steps[0][0]
        return lambda ctx: only(ctx, first(ctx))
    if all(skip for _, skip in steps):
        plain = [s for s, _ in steps]

        def run_plain(ctx: Ctx) -> list[Item]:
            items = first(ctx)
            for s in plain:
                if not items:
                    return items
                items = s(ctx, items)
            return items

        return run_plain

    def run(ctx: Ctx) -> list[Item]:
        items = first(ctx)
        for s, skip_if_empty in steps:
            if skip_if_empty and not items:
                continue
            items = s(ctx, items)
        return items

    return run


def _keeps_empty(member: ast.Node) -> bool:
    if isinstance(member, ast.Identifier):
        return True
    return isinstance(member, ast.Function) and member.name in _EMPTY_IN_EMPTY_OUT


def _is_resource_of(item: Item, name: str) -> bool:
    t = item.type
    return bool(t) and not t.startswith("System.") and name in ancestors(t)


def element_types_any(types: frozenset[str], name: str) -> bool:
    return any(element_types(t, name) is not None for t in types)
