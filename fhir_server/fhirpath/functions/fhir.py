"""FHIR's additional FHIRPath functions (http://hl7.org/fhir/R4/fhirpath.html#functions):
extension(), hasValue(), getValue(), resolve(), conformsTo(), memberOf(), htmlChecks(), and the
subsumes(), subsumedBy(), and the profile functions this engine cannot decide (elementDefinition, slice).
"""

from __future__ import annotations

from fhir_server import definitions
from fhir_server.fhirpath import ast
from fhir_server.fhirpath.compiler import UNKNOWN, Compiler, Static, Step, of_types
from fhir_server.fhirpath.context import Ctx
from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.functions import BOOL, arg_value, check_arity, one, register, simple
from fhir_server.fhirpath.items import Item, boolean, system_item, system_value
from fhir_server.fhirpath.resolve import resolve_items
from fhir_server.fhirpath.terminology import member_of, subsumes
from fhir_server.fhirpath.typesys import ancestors
from fhir_server.fhirpath.xhtml import html_checks
from fhir_server.model import PRIMITIVE_TYPES, model

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


@register("extension")
def _extension(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    check_arity(c, node, 1, 1)
    url_arg = c.expr(node.args[0])[0]

    def run(ctx: Ctx, items: list[Item]) -> list[Item]:
        url = arg_value(url_arg(ctx), "extension() url")
        if url is None:
            return []
        out = []
        for it in items:
            holder = it.ext if it.type in PRIMITIVE_TYPES else it.value
            if not isinstance(holder, dict):
                continue
            for ext in holder.get("extension", ()):
                if isinstance(ext, dict) and ext.get("url") == url:
                    out.append(Item(ext, "Extension"))
        return out

    return run, of_types("Extension")


@simple("hasValue", out=BOOL)
def _has_value(ctx: Ctx, items: list[Item]) -> list[Item]:
    if len(items) != 1:
        return boolean(False)
    it = items[0]
    return boolean(it.type in PRIMITIVE_TYPES and it.value is not None)


@simple("getValue")
def _get_value(ctx: Ctx, items: list[Item]) -> list[Item]:
    if len(items) != 1 or items[0].type not in PRIMITIVE_TYPES or items[0].value is None:
        return []
    return [system_item(system_value(items[0]))]


@simple("resolve")
def _resolve(ctx: Ctx, items: list[Item]) -> list[Item]:
    return resolve_items(ctx, items)


@simple("conformsTo", 1, out=BOOL)
def _conforms_to(ctx: Ctx, items: list[Item], url_arg: list[Item]) -> list[Item]:
    url = arg_value(url_arg, "conformsTo() url")
    it = one(items, "conformsTo()")
    if it is None or url is None:
        return []
    checker = ctx.env.get("conformsTo") if ctx.env else None
    if callable(checker):
        result = checker(it.value, url)
        return [] if result is None else boolean(bool(result))
    if url.startswith(CORE_SD) and model().type(url[len(CORE_SD):]) is not None:
        return boolean(url[len(CORE_SD):] in ancestors(it.type))
    profile = definitions.by_canonical(url)
    if profile is None or profile.get("resourceType") != "StructureDefinition":
        raise FHIRPathExecutionError(f"conformsTo(): unknown profile {url!r}")
    if profile.get("type") not in ancestors(it.type):
        return boolean(False)
    return []  # same type, but validating the profile's constraints is the validator's job


@simple("memberOf", 1, out=BOOL)
def _member_of(ctx: Ctx, items: list[Item], vs_arg: list[Item]) -> list[Item]:
    url = arg_value(vs_arg, "memberOf() value set")
    it = one(items, "memberOf()")
    if it is None or url is None:
        return []
    result = member_of(it.value, str(url))
    return [] if result is None else boolean(result)


def _subsumption(name: str, direction: str) -> None:
    @simple(name, 1, out=BOOL)
    def run(ctx: Ctx, items: list[Item], other: list[Item]) -> list[Item]:
        it, code = one(items, name + "()"), one(other, name + "() argument")
        if it is None or code is None:
            return []
        result = subsumes(it.value, code.value, direction)
        return [] if result is None else boolean(result)


_subsumption("subsumes", "subsumes")
_subsumption("subsumedBy", "subsumed-by")


@simple("htmlChecks", out=BOOL)
def _html_checks(ctx: Ctx, items: list[Item]) -> list[Item]:
    it = one(items, "htmlChecks()")
    if it is None:
        return []
    return boolean(isinstance(it.value, str) and html_checks(it.value))


def _unknown(name: str, lo: int, hi: int) -> None:
    @simple(name, lo, hi)
    def run(ctx: Ctx, items: list[Item], *args: list[Item]) -> list[Item]:
        return []


_unknown("elementDefinition", 0, 0)
_unknown("slice", 2, 2)


@register("checkModifiers")
def _check_modifiers(c: Compiler, node: ast.Function, inp: Static) -> tuple[Step, Static]:
    return (lambda ctx, items: items), UNKNOWN
