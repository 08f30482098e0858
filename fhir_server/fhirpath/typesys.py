"""FHIRPath types and reflection (http://hl7.org/fhirpath/N1/#types-and-reflection) for the R4 model.

Type specifiers resolve in the FHIR namespace first (``Quantity``, ``string``, ``Patient``), then in
``System`` (``Integer``, ``DateTime``). ``is`` follows the R4 type hierarchy (``code`` is a
``string``, ``Age`` is a ``Quantity``); ``as``/``ofType`` do too for complex types and resources but
require the exact type for primitives, as the HL7 R4 suite expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fhir_server.fhirpath.errors import FHIRPathExecutionError
from fhir_server.fhirpath.items import Item
from fhir_server.model import PRIMITIVE_TYPES, model

SYSTEM_TYPES = frozenset(
    {"Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity", "Any"}
)


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A resolved type specifier; ``also_system`` lets unqualified ``Quantity`` match both."""

    namespace: str  # "FHIR" | "System"
    name: str
    also_system: bool = False

    @property
    def key(self) -> str:
        """The Item.type string of values of exactly this type."""
        return self.name if self.namespace == "FHIR" else "System." + self.name


@cache
def resolve_type(spec: str) -> TypeSpec:
    """Resolve a type specifier; raises FHIRPathExecutionError for an unknown type."""
    ns, _, name = spec.rpartition(".")
    if ns == "System":
        return TypeSpec("System", name)
    if ns == "FHIR":
        if model().type(name) is None:
            raise FHIRPathExecutionError(f"unknown FHIR type {name!r}")
        return TypeSpec("FHIR", name)
    if model().type(spec) is not None:
        return TypeSpec("FHIR", spec, spec in SYSTEM_TYPES)
    if spec in SYSTEM_TYPES:
        return TypeSpec("System", spec)
    raise FHIRPathExecutionError(f"unknown type {spec!r}")


@cache
def ancestors(type_name: str) -> frozenset[str]:
    return frozenset(model().ancestors(type_name))


def is_type(item: Item, spec: TypeSpec) -> bool:
    """``item is spec`` (subtypes included)."""
    t = item.type
    if spec.namespace == "System" or spec.also_system:
        if t == "System." + spec.name:
            return True
        if spec.namespace == "System":
            return False
    if t.startswith("System.") or not t:
        return False
    return spec.name in ancestors(t)


def as_type(item: Item, spec: TypeSpec) -> bool:
    """Does ``item`` pass ``as spec`` / ``ofType(spec)``: exact type for primitives, else subtypes."""
    if item.type in PRIMITIVE_TYPES:
        return item.type == spec.name and spec.namespace == "FHIR"
    return is_type(item, spec)


def type_info(item: Item) -> dict[str, str]:
    """The SimpleTypeInfo/ClassInfo of an item as a JSON-like object (namespace, name)."""
    t = item.type
    if t.startswith("System."):
        return {"namespace": "System", "name": t[7:]}
    if not t:
        return {"namespace": "System", "name": "Any"}
    return {"namespace": "FHIR", "name": t}


def is_type_name(name: str) -> bool:
    """Can ``name`` at the start of a path be a type name (``Patient``, ``Resource``)?"""
    return name[:1].isupper() and model().type(name) is not None
