"""FHIRPath 2.0 (http://hl7.org/fhirpath/N1/) with the FHIR R4 additions (http://hl7.org/fhir/R4/fhirpath.html).

The project's own engine: a hand-written parser, expressions compiled once into Python closures
(cached), evaluated against FHIR JSON dicts typed by the R4 model.

API (stable; the search indexer, validator and FHIRPath Patch use it)::

    expr = compile("Observation.value as Quantity", "Observation", strict=False)
    expr.evaluate(resource, context=None, env=None, resolver=None) -> list[Any]
    expr.evaluate_typed(resource, ...) -> list[TypedValue]   # .value and .type

- ``compile(expression, base_type=None, *, strict=False)`` is cached. It raises
  :class:`FHIRPathError` (a ``ValueError``; message with the position) on syntax errors, on
  choice-element JSON names such as ``valueQuantity`` for a known type and, in strict mode, on
  paths invalid for ``base_type`` (unknown elements, a type name that cannot match, ordered functions
  on unordered collections).
- ``evaluate`` returns plain values: the original dicts for complex elements and resources;
  str/bool/int/Decimal for primitives (``None`` for a primitive that has only id/extension);
  :class:`Date`/:class:`DateTime`, :class:`Time`, :class:`Quantity` for system values the
  expression creates. ``evaluate_typed`` returns items with ``.value`` (as above) and ``.type``: the
  FHIR type name (``'Quantity'``, ``'dateTime'``, ``'Patient.contact'``) or ``'System.X'`` for
  system values (``'System.Boolean'``).
- ``context``: the node ``$this``/``%context`` start from (a dict, a TypedValue, or a list); the
  default is ``resource``. ``env``: extra ``%variables`` (values or lists of values); the key
  ``conformsTo`` may hold a ``(value, url) -> bool | None`` profile checker. ``resolver``:
  ``reference -> resource dict | None`` for resolve() (see :mod:`fhir_server.fhirpath.resolve`).
- Evaluation errors (e.g. a singleton expected) raise :class:`FHIRPathError` too.
- Thread-safe: compiled expressions are immutable; every evaluation has its own context.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhir_server.fhirpath.compiler import Compiler, Eval
from fhir_server.fhirpath.context import Ctx, Resolver, to_items
from fhir_server.fhirpath.errors import (
    FHIRPathError,
    FHIRPathExecutionError,
    FHIRPathSemanticError,
    FHIRPathSyntaxError,
)
from fhir_server.fhirpath.items import Item
from fhir_server.fhirpath.parser import parse
from fhir_server.fhirpath.typesys import ancestors
from fhir_server.fhirpath.values import DateTime, Quantity, Time

TypedValue = Item
Date = DateTime

# Python errors an evaluation may still hit on hostile input (decimal.Overflow/InvalidOperation are
# ArithmeticErrors); they surface as FHIRPathExecutionError so callers answer 4xx, never 500.
_RUNTIME_ERRORS = (ArithmeticError, ValueError, TypeError, MemoryError)

__all__ = [
    "Date", "DateTime", "Expression", "FHIRPathError", "FHIRPathExecutionError", "FHIRPathSemanticError",
    "FHIRPathSyntaxError", "Quantity", "Time", "TypedValue", "compile", "evaluate",
]


class Expression:
    """A compiled FHIRPath expression; immutable and safe to share between threads."""

    __slots__ = ("_fn", "base_type", "source", "strict")

    def __init__(self, source: str, base_type: str | None, strict: bool, fn: Eval) -> None:
        self.source = source
        self.base_type = base_type
        self.strict = strict
        self._fn = fn

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, base_type={self.base_type!r})"

    def evaluate_typed(
        self,
        resource: Any,
        *,
        context: Any = None,
        env: dict[str, Any] | None = None,
        resolver: Resolver | None = None,
    ) -> list[TypedValue]:
        """Evaluate; each result item has ``.value`` and ``.type``."""
        return self._run(resource, context, env, resolver)

    def evaluate(
        self,
        resource: Any,
        *,
        context: Any = None,
        env: dict[str, Any] | None = None,
        resolver: Resolver | None = None,
    ) -> list[Any]:
        """Evaluate; plain values (see the module documentation)."""
        return [i.value for i in self._run(resource, context, env, resolver)]

    def _run(
        self, resource: Any, context: Any, env: dict[str, Any] | None, resolver: Resolver | None
    ) -> list[Item]:
        if type(resource) is dict:
            root = [Item(resource, resource.get("resourceType") or self.base_type or "")]
        else:
            root = self._items(resource)
        this = root if context is None else self._items(context)
        fn = self._fn
        base = self.base_type
        if base is not None and this and this[0].type != base and not self._fits(this[0].type):
            fn = compile(self.source, None, strict=self.strict)._fn
        try:
            return fn(Ctx(this, root, env, resolver))
        except FHIRPathError:
            raise
        except RecursionError as e:
            raise FHIRPathExecutionError("expression too deeply nested", None, self.source) from e
        except _RUNTIME_ERRORS as e:  # hostile input the checks above it did not foresee
            raise FHIRPathExecutionError(
                f"evaluation failed ({type(e).__name__}: {str(e)[:200]})", None, self.source
            ) from e

    def _fits(self, type_name: str) -> bool:
        """Is a context of ``type_name`` what this expression was compiled for (base_type or a subtype)?"""
        return type_name == self.base_type or self.base_type in ancestors(type_name)

    def _items(self, value: Any) -> list[Item]:
        if type(value) is dict:
            return [Item(value, value.get("resourceType") or self.base_type or "")]
        if value is None:
            return []
        if isinstance(value, Item):
            return [value]
        return to_items(value)


@lru_cache(maxsize=8192)
def compile(expression: str, base_type: str | None = None, *, strict: bool = False) -> Expression:
    """Parse and compile ``expression`` (cached); raises FHIRPathError when it is invalid."""
    try:
        tree = parse(expression)
        fn, _ = Compiler(expression, base_type, strict).expr(tree)
    except FHIRPathError as e:
        if e.expression is None:
            raise type(e)(e.message, e.position, expression) from e
        raise
    except RecursionError as e:
        raise FHIRPathSyntaxError("expression too deeply nested", None, expression) from e
    except _RUNTIME_ERRORS as e:
        raise FHIRPathSyntaxError(f"invalid expression ({type(e).__name__})", None, expression) from e
    return Expression(expression, base_type, strict, fn)


def evaluate(
    resource: Any, expression: str, base_type: str | None = None, **kwargs: Any
) -> list[Any]:
    """One-shot convenience: ``compile(expression, base_type).evaluate(resource, **kwargs)``."""
    return compile(expression, base_type).evaluate(resource, **kwargs)
