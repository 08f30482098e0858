"""Index extraction at write time (DESIGN.md "Storage model"): every SearchParameter of the type, by FHIRPath.

For each resource type a plan is compiled once: the parameter's expression (the project's own
FHIRPath engine) and the extractor of its type. ``extract`` runs the plan on a resource and
returns the rows for each index table; the write session stores them in the same transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fhir_server import fhirpath, terminology
from fhir_server.fhirpath import FHIRPathError, TypedValue
from fhir_server.model import model
from fhir_server.search.registry import Registry, SearchParam
from fhir_server.search.types import composite, date, number, quantity, reference, special, string, token, uri

log = logging.getLogger(__name__)
Json = dict[str, Any]
Rows = Iterable[tuple[Any, ...]]
TYPE_MODULES = {
    "string": string, "token": token, "date": date, "number": number, "quantity": quantity,
    "reference": reference, "uri": uri, "special": special, "composite": composite,
}
_SIMPLE_PATH = re.compile(r"[A-Za-z]+(\.[A-Za-z]+)+")


@dataclass(slots=True)
class Plan:
    param: SearchParam
    table: str
    expression: fhirpath.Expression
    extract: Callable[[list[TypedValue], Json], Rows]


def implicit_system(param: SearchParam) -> str | None:
    """The code system of a ``code`` element with a required one-system binding (gender → administrative-gender)."""
    expr = param.expression or ""
    if not _SIMPLE_PATH.fullmatch(expr):
        return None
    parts = expr.split(".")
    m = model()
    info = m.type(parts[0])
    element = None
    for name in parts[1:]:
        if info is None or name not in info.elements:
            return None
        element = info.elements[name]
        info = m.type(element.types[0]) if element.types else None
    if element is None or element.types != ("code",) or element.binding is None:
        return None
    if element.binding.strength != "required" or not element.binding.value_set:
        return None
    codes = terminology.expand(element.binding.value_set)
    systems = {s for s, _ in codes or ()}
    return systems.pop() if len(systems) == 1 else None


class SearchIndexer:
    """The Indexer of the write path: resource → rows of the idx_* tables."""

    def __init__(self, registry: Registry, base_url: str | None = None) -> None:
        self.registry = registry
        self.base_url = base_url
        self.tables = {mod.TABLE: mod.COLUMNS for mod in TYPE_MODULES.values()}
        self._plans: dict[str, list[Plan]] = {}

    def reset(self) -> None:
        """Forget compiled plans (after the registry changed)."""
        self._plans = {}

    def plans(self, res_type: str) -> list[Plan]:
        plans = self._plans.get(res_type)
        if plans is None:
            plans = [p for p in (self._plan(sp) for sp in self.registry.indexed(res_type)) if p is not None]
            self._plans[res_type] = plans
        return plans

    def _plan(self, sp: SearchParam) -> Plan | None:
        if not sp.indexed or sp.expression is None or sp.type not in TYPE_MODULES:
            return None
        try:
            expr = fhirpath.compile(sp.expression, sp.res_type)
        except FHIRPathError as exc:
            log.warning("search parameter %s.%s is not indexed: %s", sp.res_type, sp.code, exc)
            return None
        module = TYPE_MODULES[sp.type]
        return Plan(sp, module.TABLE, expr, self._extractor(sp))

    def _extractor(self, sp: SearchParam) -> Callable[[list[TypedValue], Json], Rows]:
        pid = sp.pid
        if sp.type == "token":
            system = implicit_system(sp)
            return lambda items, res: token.extract(items, pid, system)
        if sp.type == "reference":
            base = self.base_url
            return lambda items, res: reference.extract(items, pid, base)
        if sp.type == "composite":
            kinds = tuple(c.type for c in sp.components)
            exprs: list[fhirpath.Expression | None] = [None] * len(sp.components)

            def component(i: int, node: TypedValue, res: Json) -> list[TypedValue]:
                expr = exprs[i]
                if expr is None or expr.base_type != node.type:
                    expr = exprs[i] = fhirpath.compile(sp.components[i].expression, node.type)
                return expr.evaluate_typed(res, context=node)

            return lambda items, res: composite.extract(items, pid, kinds, lambda i, n: component(i, n, res))
        module: Any = TYPE_MODULES[sp.type]
        return lambda items, res: module.extract(items, pid)

    def param_rows(
        self, res_type: str, resource: Json, pids: Container[int | None]
    ) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """(pid, index row) of just these parameters for this content, exactly as ``extract`` makes them; a
        parameter whose expression fails on the content gives no rows (as on the write path)."""
        for plan in self.plans(res_type):
            if plan.param.pid not in pids:
                continue
            try:
                items = plan.expression.evaluate_typed(resource)
                rows = list(plan.extract(items, resource)) if items else []
            except (FHIRPathError, ArithmeticError, ValueError, TypeError):
                continue
            for row in rows:
                yield plan.param.pid, row

    def extract(self, res_type: str, resource: Json) -> dict[str, list[tuple[Any, ...]]]:
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for plan in self.plans(res_type):
            try:
                items = plan.expression.evaluate_typed(resource)
                if not items:
                    continue
                found = list(plan.extract(items, resource))
            except (FHIRPathError, ArithmeticError, ValueError, TypeError) as exc:
                log.debug("indexing %s.%s failed: %s", res_type, plan.param.code, exc)
                continue
            if found:
                rows.setdefault(plan.table, []).extend(found)
        return rows
