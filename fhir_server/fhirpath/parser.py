"""FHIRPath grammar (http://hl7.org/fhirpath/N1/#grammar): a hand-written precedence-climbing parser.

Operator precedence, from tightest to loosest (N1 §Operator precedence): ``.`` ``[]``; unary ``+ -``;
``* / div mod``; ``+ - &``; ``is as``; ``|``; ``< > <= >=``; ``= ~ != !~``; ``in contains``; ``and``;
``or xor``; ``implies``. All binary operators associate to the left.
"""

from __future__ import annotations

from decimal import Decimal

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.errors import FHIRPathSyntaxError
from fhir_server.fhirpath.items import INT_MAX
from fhir_server.fhirpath.lexer import (
    DATETIME,
    DIDENT,
    EOF,
    EXT,
    IDENT,
    NUM,
    OP,
    STR,
    TIME,
    VAR,
    Token,
    tokenize,
)
from fhir_server.fhirpath.values import CALENDAR_UNITS, Quantity, parse_date_literal, parse_time

_BINARY: dict[str, int] = {
    "implies": 1, "or": 2, "xor": 2, "and": 3, "in": 4, "contains": 4,
    "=": 5, "~": 5, "!=": 5, "!~": 5, "<": 6, ">": 6, "<=": 6, ">=": 6, "|": 7,
    "is": 8, "as": 8, "+": 9, "-": 9, "&": 9, "*": 10, "/": 10, "div": 10, "mod": 10,
}
_WORD_OPS = frozenset({"implies", "or", "xor", "and", "in", "contains", "is", "as", "div", "mod"})
_UNARY_PREC = 11


def parse(src: str) -> ast.Node:
    """The syntax tree of ``src``; raises FHIRPathSyntaxError with the position on invalid input."""
    p = _Parser(src)
    node = p.expression(0)
    tok = p.peek()
    if tok.kind != EOF:
        p.fail(f"unexpected {tok.text!r}", tok)
    return node


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0
        self.negated = False  # the next number literal follows a unary minus

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, msg: str, tok: Token) -> None:
        if tok.kind == EOF:
            msg = "unexpected end of expression"
        raise FHIRPathSyntaxError(msg, tok.pos, self.src)

    def expect(self, text: str) -> Token:
        tok = self.take()
        if tok.kind != OP or tok.text != text:
            self.fail(f"expected {text!r} but found {tok.text!r}", tok)
        return tok

    def _binary_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == OP and tok.text in _BINARY:
            return tok.text
        if tok.kind == IDENT and tok.text in _WORD_OPS:
            return tok.text
        return None

    def expression(self, min_prec: int) -> ast.Node:
        left = self.unary()
        while True:
            op = self._binary_op()
            if op is None or _BINARY[op] < min_prec:
                return left
            tok = self.take()
            prec = _BINARY[op]
            if op in ("is", "as"):
                left = ast.TypeOp(tok.pos, op, left, self.type_specifier())
                continue
            right = self.expression(prec + 1)
            left = ast.Binary(tok.pos, op, left, right)

    def type_specifier(self) -> str:
        parts = [self.identifier()]
        while self.peek().kind == OP and self.peek().text == "." and self.toks[self.i + 1].kind in (
            IDENT, DIDENT,
        ):
            self.take()
            parts.append(self.identifier())
        return ".".join(parts)

    def identifier(self) -> str:
        tok = self.take()
        if tok.kind not in (IDENT, DIDENT):
            self.fail(f"expected an identifier but found {tok.text!r}", tok)
        return tok.text

    def unary(self) -> ast.Node:
        tok = self.peek()
        if tok.kind == OP and tok.text in ("+", "-"):
            self.take()
            self.negated = tok.text == "-" and self.peek().kind == NUM
            operand = self.unary()
            return ast.Unary(tok.pos, tok.text, operand)
        return self.postfix(self.term())

    def postfix(self, node: ast.Node) -> ast.Node:
        while True:
            tok = self.peek()
            if tok.kind != OP or tok.text not in ".[":
                return node
            self.take()
            if tok.text == "[":
                index = self.expression(0)
                self.expect("]")
                node = ast.Indexer(tok.pos, node, index)
            else:
                node = ast.Invoke(tok.pos, node, self.invocation())

    def invocation(self) -> ast.Node:
        tok = self.take()
        if tok.kind == VAR:
            return self._variable(tok)
        if tok.kind not in (IDENT, DIDENT):
            self.fail(f"expected a name but found {tok.text!r}", tok)
        nxt = self.peek()
        if tok.kind == IDENT and nxt.kind == OP and nxt.text == "(":
            return self.function(tok)
        return ast.Identifier(tok.pos, tok.text, tok.kind == DIDENT)

    def _variable(self, tok: Token) -> ast.Node:
        if tok.text not in ("this", "index", "total"):
            self.fail(f"unknown variable ${tok.text}", tok)
        return ast.Variable(tok.pos, tok.text)

    def function(self, name: Token) -> ast.Node:
        self.expect("(")
        args: list[ast.Node] = []
        if not (self.peek().kind == OP and self.peek().text == ")"):
            args.append(self.expression(0))
            while self.peek().kind == OP and self.peek().text == ",":
                self.take()
                args.append(self.expression(0))
        self.expect(")")
        return ast.Function(name.pos, name.text, tuple(args))

    def term(self) -> ast.Node:
        tok = self.peek()
        kind = tok.kind
        if kind == OP and tok.text == "(":
            self.take()
            inner = self.expression(0)
            self.expect(")")
            return ast.Paren(tok.pos, inner)
        if kind == OP and tok.text == "{":
            self.take()
            self.expect("}")
            return ast.EmptyLiteral(tok.pos)
        if kind in (NUM, STR, DATETIME, TIME):
            return self.literal()
        if kind == EXT:
            self.take()
            return ast.External(tok.pos, tok.text)
        if kind == IDENT and tok.text in ("true", "false"):
            self.take()
            return ast.Literal(tok.pos, tok.text == "true", "System.Boolean")
        if kind in (IDENT, DIDENT, VAR):
            return self.invocation()
        self.fail(f"unexpected {tok.text!r}", tok)
        raise AssertionError  # unreachable

    def literal(self) -> ast.Node:
        tok = self.take()
        if tok.kind == STR:
            return ast.Literal(tok.pos, tok.text, "System.String")
        if tok.kind == TIME:
            value = parse_time(tok.text[1:])
            if value is None:
                self.fail("invalid time literal", tok)
            return ast.Literal(tok.pos, value, "System.Time")
        if tok.kind == DATETIME:
            date_value = parse_date_literal(tok.text)
            if date_value is None:
                raise FHIRPathSyntaxError("invalid date/time literal", tok.pos, self.src)
            return ast.Literal(tok.pos, date_value, date_value.system_type)
        return self._number(tok)

    def _number(self, tok: Token) -> ast.Node:
        negated, self.negated = self.negated, False
        unit = self.peek()
        if unit.kind == STR or (unit.kind == IDENT and unit.text in CALENDAR_UNITS):
            self.take()
            return ast.Literal(tok.pos, Quantity(Decimal(tok.text), unit.text), "System.Quantity")
        if "." in tok.text:
            return ast.Literal(tok.pos, Decimal(tok.text), "System.Decimal")
        # System.Integer is 32-bit (N1 §Integer); 2^31 is allowed only right after a unary minus
        limit = INT_MAX + 1 if negated else INT_MAX
        digits = tok.text.lstrip("0") or "0"
        if len(digits) > len(str(limit)) or int(digits) > limit:
            raise FHIRPathSyntaxError(
                f"integer literal {tok.text[:20]}{'...' if len(tok.text) > 20 else ''} is out of range "
                "(a FHIRPath Integer is 32-bit signed)",
                tok.pos, self.src,
            )
        return ast.Literal(tok.pos, int(digits), "System.Integer")
