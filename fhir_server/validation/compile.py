"""Compiled element tables from the R4 StructureDefinitions (http://hl7.org/fhir/R4/elementdefinition.html).

Each resource, complex type and backbone element becomes one :class:`Spec` — a dict from JSON
property name (``valueQuantity``, ``_birthDate``) to a :class:`Prop` holding everything the walker
needs: kind, array-ness, max, the primitive checker or child spec, the required-binding code set,
the rival keys of a choice element. Specs are compiled once per type, lazily, and shared.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache

from fhir_server import terminology
from fhir_server.model import PRIMITIVE_TYPES, Element, Model, TypeInfo, model
from fhir_server.validation.primitives import Checker, build_checkers

PRIMITIVE = 0
COMPLEX = 1
RESOURCE = 2
PRIMITIVE_EXT = 3  # the ``_name`` sibling carrying a primitive's id/extensions

RESOURCE_BASES = frozenset({"Resource", "DomainResource"})


@dataclass(slots=True, eq=False)
class Prop:
    """One JSON property of a type."""

    key: str
    segment: str  # FHIRPath step: "birthDate", "value.ofType(Quantity)"
    type_code: str
    kind: int
    is_array: bool
    max: int | None
    check: Checker | None = None  # primitives
    spec: Spec | None = None  # complex types, backbones, and the Element of a ``_name`` sibling
    codes: frozenset[str] | None = None  # required binding of a code
    pairs: frozenset[tuple[str, str]] | None = None  # required binding of a Coding/CodeableConcept
    value_set: str | None = None
    rivals: frozenset[str] | None = None  # keys of the same choice element with another type
    partner: str = ""  # "_name" for a primitive, "name" for its "_name" sibling


@dataclass(slots=True, eq=False)
class Spec:
    """The properties of one type, and the rules that involve several of them."""

    name: str
    props: dict[str, Prop] = field(default_factory=dict)
    required: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (element name, its JSON keys)
    resource: bool = False
    extension_keys: frozenset[str] | None = None  # Extension: the value[x] keys (ext-1)


class Compiler:
    """Builds and caches :class:`Spec` objects for the R4 model."""

    def __init__(self, m: Model) -> None:
        self.model = m
        self.checkers = build_checkers()
        self.specs: dict[str, Spec] = {}  # may hold specs still being compiled
        self.resources: dict[str, Spec] = {}  # complete resource specs only
        self.lock = threading.Lock()

    def spec(self, type_name: str) -> Spec:
        found = self.specs.get(type_name)
        if found is not None:
            return found
        info = self.model.type(type_name)
        if info is None:
            raise KeyError(type_name)
        spec = Spec(type_name, resource=info.kind == "resource")
        self.specs[type_name] = spec  # before the elements: types refer to themselves
        required: list[tuple[str, tuple[str, ...]]] = []
        for element in info.elements.values():
            keys = self._add_element(spec, info, element)
            if element.min >= 1:
                required.append((element.name, keys))
        spec.required = tuple(required)
        if type_name == "Extension":
            value_keys = (k for k, p in spec.props.items() if p.segment.startswith("value."))
            spec.extension_keys = frozenset(value_keys)
        return spec

    def _add_element(self, spec: Spec, info: TypeInfo, element: Element) -> tuple[str, ...]:
        keys: list[str] = []
        for type_code in element.types:
            key = element.name + type_code[0].upper() + type_code[1:] if element.choice else element.name
            code = "id" if info.kind == "resource" and element.name == "id" else type_code
            segment = f"{element.name}.ofType({type_code})" if element.choice else element.name
            prop = self._prop(key, segment, code, element)
            spec.props[key] = prop
            keys.append(key)
            if prop.kind == PRIMITIVE and _has_json_sibling(element, code):
                ext = Prop("_" + key, segment, code, PRIMITIVE_EXT, element.is_array, element.max,
                           spec=self.spec("Element"), partner=key)
                prop.partner = ext.key
                spec.props[ext.key] = ext
                keys.append(ext.key)
        if element.choice:
            self._set_rivals(spec, keys)
        return tuple(keys)

    def _prop(self, key: str, segment: str, code: str, element: Element) -> Prop:
        prop = Prop(key, segment, code, COMPLEX, element.is_array, element.max)
        if code in PRIMITIVE_TYPES:
            prop.kind = PRIMITIVE
            prop.check = self.checkers[code]
        elif code in RESOURCE_BASES or self.model.is_resource(code):
            prop.kind = RESOURCE
        else:
            prop.spec = self.spec(code)
        self._bind(prop, element)
        return prop

    @staticmethod
    def _bind(prop: Prop, element: Element) -> None:
        binding = element.binding
        if binding is None or binding.strength != "required" or binding.value_set is None:
            return
        if prop.type_code == "code":
            prop.codes = terminology.expand_codes(binding.value_set)
            prop.value_set = binding.value_set.split("|", 1)[0] if prop.codes is not None else None
        elif prop.type_code in ("Coding", "CodeableConcept"):
            prop.pairs = terminology.expand(binding.value_set)
            prop.value_set = binding.value_set.split("|", 1)[0] if prop.pairs is not None else None

    @staticmethod
    def _set_rivals(spec: Spec, keys: list[str]) -> None:
        for key in keys:
            prop = spec.props[key]
            rivals = frozenset(k for k in keys if spec.props[k].type_code != prop.type_code)
            prop.rivals = rivals or None  # a choice of one type has no rivals


def _has_json_sibling(element: Element, code: str) -> bool:
    """Can the primitive have a ``_name`` sibling? Not XML attributes (ids, Extension.url) nor xhtml."""
    return code != "xhtml" and "xmlAttr" not in element.definition.get("representation", ())


@cache
def compiler() -> Compiler:
    """The process-wide compiler (the model is built on first use)."""
    return Compiler(model())


def resource_spec(resource_type: str) -> Spec | None:
    """The compiled spec of a concrete R4 resource type, or None for an unknown type."""
    c = compiler()
    found = c.resources.get(resource_type)
    if found is not None:
        return found
    if not c.model.is_resource(resource_type):
        return None
    with c.lock:  # specs are registered before they are complete: compile one type at a time
        spec = c.spec(resource_type)
        c.resources[resource_type] = spec
    return spec


def warm_up() -> None:
    """Compile every resource type now (server start) instead of on the first write of each."""
    for name in sorted(compiler().model.resource_types):
        resource_spec(name)
