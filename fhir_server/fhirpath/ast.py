"""FHIRPath abstract syntax (http://hl7.org/fhirpath/N1/#grammar): the nodes the parser produces.

Every node records ``pos``, its character offset in the source, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A literal value: ``value`` is a system value (bool, str, int, Decimal, date/time, Quantity)."""

    value: Any
    type: str  # System type name: "System.Integer" ...


@dataclass(frozen=True, slots=True)
class EmptyLiteral(Node):
    """``{}``."""


@dataclass(frozen=True, slots=True)
class Identifier(Node):
    """A member name (or, at the start of a path, possibly a type name)."""

    name: str
    delimited: bool = False


@dataclass(frozen=True, slots=True)
class Function(Node):
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Variable(Node):
    """``$this``, ``$index``, ``$total``."""

    name: str


@dataclass(frozen=True, slots=True)
class External(Node):
    """``%name`` / ``%`name```."""

    name: str


@dataclass(frozen=True, slots=True)
class Invoke(Node):
    """``target.member`` / ``target.function(...)``."""

    target: Node
    member: Node  # Identifier | Function | Variable


@dataclass(frozen=True, slots=True)
class Indexer(Node):
    target: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class TypeOp(Node):
    """``x is T`` / ``x as T``."""

    op: str
    operand: Node
    type_name: str


@dataclass(frozen=True, slots=True)
class Paren(Node):
    """A parenthesised expression: it starts a new path."""

    inner: Node
