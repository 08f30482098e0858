"""FHIRPath operators (http://hl7.org/fhirpath/N1/#operations): indexer, unary, binary and type operators."""

from __future__ import annotations

from collections.abc import Callable

from fhir_server.fhirpath import arithmetic, ast
from fhir_server.fhirpath.compare import (
    collection_equal,
    collection_equivalent,
    compare,
    contains_item,
    distinct,
)
from fhir_server.fhirpath.compiler import NOTHING, UNKNOWN, Compiler, Eval, Static, of_types
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import FALSE, STRING_TYPES, TRUE, Item, boolean, system_value
from fhir_server.fhirpath.typesys import as_type, is_type

BOOL = of_types("System.Boolean")


def singleton(items: list[Item], what: str) -> Item | None:
    """The single item of a collection, None if empty; raises if it has several."""
    if not items:
        return None
    if len(items) > 1:
        raise FHIRPathExecutionError(f"{what} expects a single item, got {len(items)}")
    return items[0]


def to_bool(items: list[Item], what: str) -> bool | None:
    """Singleton evaluation of a collection as a Boolean (N1 §Singleton evaluation)."""
    it = singleton(items, what)
    if it is None:
        return None
    v = it.value
    if isinstance(v, bool):
        return v
    return True


def compile_indexer(c: Compiler, node: ast.Indexer) -> tuple[Eval, Static]:
    target, st = c.expr(node.target)
    c.check_ordered(st, node.pos, "[]")
    index, _ = c.expr(node.index)

    def run(ctx: Ctx) -> list[Item]:
        items = target(ctx)
        i = singleton(index(ctx), "[]")
        if i is None:
            return []
        if not isinstance(i.value, int) or isinstance(i.value, bool):
            raise FHIRPathExecutionError("an index must be an integer")
        return [items[i.value]] if 0 <= i.value < len(items) else []

    return run, st


def compile_unary(c: Compiler, node: ast.Unary) -> tuple[Eval, Static]:
    operand, st = c.expr(node.operand)
    if node.op == "+":
        return operand, st

    def negate(ctx: Ctx) -> list[Item]:
        it = singleton(operand(ctx), "unary -")
        if it is None:
            return []
        out = arithmetic.negate(it)
        return [] if out is None else [out]

    return negate, st


def compile_type_op(c: Compiler, node: ast.TypeOp) -> tuple[Eval, Static]:
    operand, _ = c.expr(node.operand)
    spec = c.type_spec(node.type_name, node.pos)
    if node.op == "is":

        def is_(ctx: Ctx) -> list[Item]:
            it = singleton(operand(ctx), "is")
            return [] if it is None else boolean(is_type(it, spec))

        return is_, BOOL

    def as_(ctx: Ctx) -> list[Item]:
        return [i for i in operand(ctx) if as_type(i, spec)]

    return as_, of_types(spec.key)


def compile_binary(c: Compiler, node: ast.Binary) -> tuple[Eval, Static]:
    if node.op == "|":
        return compile_union(c, node)
    left, _ = c.expr(node.left)
    right, _ = c.expr(node.right)
    op = node.op
    if op in _LOGIC:
        return _logic(_LOGIC[op], left, right), BOOL
    impl = _COLLECTION_OPS.get(op)
    if op in ("=", "!=") and isinstance(node.right, ast.Literal) and node.right.type == "System.String":
        return _string_equals(left, node.right.value, op == "="), BOOL
    if impl is not None:
        fn = impl

        def run(ctx: Ctx) -> list[Item]:
            return fn(left(ctx), right(ctx))

        return run, BOOL
    return _arith(op, left, right), UNKNOWN


def _string_equals(left: Eval, literal: str, equal: bool) -> Eval:
    """``path = 'text'``: the common criteria of where(), without the generic comparison machinery."""
    generic = _eq if equal else _ne
    literal_items = [Item(literal, "System.String")]

    def run(ctx: Ctx) -> list[Item]:
        items = left(ctx)
        if len(items) == 1:
            it = items[0]
            v = it.value
            if type(v) is str and it.type in STRING_TYPES:
                return [TRUE if (v == literal) is equal else FALSE]
        return generic(items, literal_items)

    return run


def _union_branches(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op == "|":
        return _union_branches(node.left) + _union_branches(node.right)
    return [node]


def compile_union(c: Compiler, node: ast.Binary) -> tuple[Eval, Static]:
    """``a | b | c``: one n-ary union; branches that cannot match the context type are dropped."""
    compiled = [c.expr(b) for b in _union_branches(node)]
    live = [(fn, st) for fn, st in compiled if st is not NOTHING]
    if not live:
        return (lambda ctx: []), NOTHING
    types: set[str] | None = set()
    for _, st in live:
        types = None if types is None or st.types is None else types | st.types
    out = Static(None if types is None else frozenset(types), False)
    fns = [fn for fn, _ in live]
    if len(fns) == 1:
        only = fns[0]
        return (lambda ctx: distinct(only(ctx))), out
    if len(fns) == 2:
        a, b = fns
        return (lambda ctx: distinct(a(ctx) + b(ctx))), out

    def run(ctx: Ctx) -> list[Item]:
        items: list[Item] = []
        for fn in fns:
            items.extend(fn(ctx))
        return distinct(items)

    return run, out


def _arith(op: str, left: Eval, right: Eval) -> Eval:
    fn = arithmetic.BINARY[op]
    if op == "&":

        def concat(ctx: Ctx) -> list[Item]:
            a, b = singleton(left(ctx), "&"), singleton(right(ctx), "&")
            sa = "" if a is None else str(system_value(a))
            sb = "" if b is None else str(system_value(b))
            if len(sa) + len(sb) > arithmetic.MAX_STRING:
                raise FHIRPathExecutionError(f"the string would be longer than {arithmetic.MAX_STRING} characters")
            return [Item(sa + sb, "System.String")]

        return concat

    def run(ctx: Ctx) -> list[Item]:
        a, b = singleton(left(ctx), op), singleton(right(ctx), op)
        if a is None or b is None:
            return []
        result = fn(a, b)
        return [] if result is None else [result]

    return run


def _eq(a: list[Item], b: list[Item]) -> list[Item]:
    r = collection_equal(a, b)
    return [] if r is None else boolean(r)


def _ne(a: list[Item], b: list[Item]) -> list[Item]:
    r = collection_equal(a, b)
    return [] if r is None else boolean(not r)


def _ordering(test: Callable[[int], bool], sym: str) -> Callable[[list[Item], list[Item]], list[Item]]:
    def run(a: list[Item], b: list[Item]) -> list[Item]:
        x, y = singleton(a, sym), singleton(b, sym)
        if x is None or y is None:
            return []
        r = compare(x, y)
        return [] if r is None else boolean(test(r))

    return run


def _in(a: list[Item], b: list[Item]) -> list[Item]:
    x = singleton(a, "in")
    return [] if x is None else boolean(contains_item(b, x))


def _contains(a: list[Item], b: list[Item]) -> list[Item]:
    x = singleton(b, "contains")
    return [] if x is None else boolean(contains_item(a, x))


_COLLECTION_OPS: dict[str, Callable[[list[Item], list[Item]], list[Item]]] = {
    "=": _eq,
    "!=": _ne,
    "~": lambda a, b: boolean(collection_equivalent(a, b)),
    "!~": lambda a, b: boolean(not collection_equivalent(a, b)),
    "<": _ordering(lambda r: r < 0, "<"),
    "<=": _ordering(lambda r: r <= 0, "<="),
    ">": _ordering(lambda r: r > 0, ">"),
    ">=": _ordering(lambda r: r >= 0, ">="),
    "in": _in,
    "contains": _contains,
}


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _xor(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a != b


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is True:
        return True
    return None if a is None or b is None else False


_LOGIC = {"and": _and, "or": _or, "xor": _xor, "implies": _implies}


def _logic(fn: Callable[[bool | None, bool | None], bool | None], left: Eval, right: Eval) -> Eval:
    short = False if fn is _and else (True if fn is _or else None)

    def run(ctx: Ctx) -> list[Item]:
        a = to_bool(left(ctx), "boolean operator")
        if short is not None and a is short:
            return boolean(short)
        if fn is _implies and a is False:
            return boolean(True)
        r = fn(a, to_bool(right(ctx), "boolean operator"))
        return [] if r is None else boolean(r)

    return run
