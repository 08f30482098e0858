"""The R4 type model (http://hl7.org/fhir/R4/elementdefinition.html), derived from the core snapshots.

For every complex type, resource and backbone element it records the elements, their types,
cardinality, binding and summary flag, and maps every JSON property name (``valueQuantity``,
``_birthDate``) to its element. Validation, FHIRPath, ``_summary`` and search all read this model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhir_server import definitions

FHIRPATH_SYSTEM = "http://hl7.org/fhirpath/System."
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"

PRIMITIVE_TYPES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
        "instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
        "uri", "url", "uuid", "xhtml",
    }
)


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str
    value_set: str | None


@dataclass(slots=True)
class Element:
    """One element of a type: ``Patient.contact``, ``Observation.value[x]``."""

    name: str  # the JSON name without [x]: "value", "contact"
    path: str  # "Observation.value[x]"
    types: tuple[str, ...]  # FHIR type codes; a backbone element's type is its own path
    min: int
    max: int | None  # None = unbounded
    is_array: bool  # represented as a JSON array (base max != "1")
    choice: bool
    summary: bool
    modifier: bool
    binding: Binding | None
    target_profiles: tuple[str, ...] = ()
    constraints: tuple[dict[str, Any], ...] = ()
    xml_attr: bool = False  # an XML attribute (element id, Extension.url): no ``_name`` sibling in JSON
    definition: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class TypeInfo:
    """A complex type, resource type or backbone element and its elements."""

    name: str  # "HumanName", "Patient", "Patient.contact"
    kind: str  # primitive-type | complex-type | resource | backbone
    base: str | None  # the type it specialises ("DomainResource", "Element", ...)
    abstract: bool
    elements: dict[str, Element]  # by element name
    # JSON property → (element, concrete type code); choice elements appear once per type
    props: dict[str, tuple[Element, str]]
    regex: str | None = None  # primitives: the value pattern

    def prop(self, name: str) -> tuple[Element, str] | None:
        return self.props.get(name)


def _type_code(t: dict[str, Any]) -> str:
    code: str = t["code"]
    if code.startswith(FHIRPATH_SYSTEM):
        for ext in t.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext["valueUrl"])
        return "string"
    return code


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


class Model:
    """All R4 types by name, built once from the snapshots."""

    def __init__(self) -> None:
        self.types: dict[str, TypeInfo] = {}
        sds = definitions.structure_definitions()
        for sd in sds.values():
            if sd.get("derivation") == "constraint" or sd["kind"] == "logical":
                continue
            self._add_structure(sd)
        self.resource_types = definitions.resource_types()

    def _add_structure(self, sd: dict[str, Any]) -> None:
        elements = sd["snapshot"]["element"]
        root = elements[0]["path"]
        kind = sd["kind"]
        base = sd.get("baseDefinition", "").rsplit("/", 1)[-1] or None
        regex = None
        if kind == "primitive-type":
            for el in elements:
                if el["path"] == root + ".value":
                    for ext in el["type"][0].get("extension", []):
                        if ext.get("url") == REGEX_EXT:
                            regex = ext["valueString"]
        by_path: dict[str, TypeInfo] = {
            root: TypeInfo(root, kind, base, bool(sd.get("abstract")), {}, {}, regex)
        }
        for el in elements[1:]:
            path: str = el["path"]
            parent_path, _, raw_name = path.rpartition(".")
            parent = by_path.get(parent_path)
            if parent is None:
                continue  # under a primitive's value: nothing to model
            element = self._element(el, raw_name, path)
            if kind == "resource" and path == root + ".id":
                element.types = ("id",)  # R4 resource.html: Resource.id is an id (the snapshot says string)
            parent.elements[element.name] = element
            for code in element.types:
                prop = element.name + _cap(code) if element.choice else element.name
                parent.props[prop] = (element, code)
            if element.types == (path,):
                by_path[path] = TypeInfo(path, "backbone", "BackboneElement", False, {}, {})
        for name, info in by_path.items():
            self.types[name] = info

    def _element(self, el: dict[str, Any], raw_name: str, path: str) -> Element:
        choice = raw_name.endswith("[x]")
        name = raw_name[:-3] if choice else raw_name
        if "contentReference" in el:
            types: tuple[str, ...] = (el["contentReference"].lstrip("#"),)
        else:
            codes = [_type_code(t) for t in el.get("type", [])]
            if codes in (["BackboneElement"], ["Element"]) and "." in path:
                codes = [path]
            types = tuple(codes)
        base_max = el.get("base", {}).get("max", el.get("max", "1"))
        mx = el.get("max", "1")
        binding = el.get("binding")
        targets: list[str] = []
        for t in el.get("type", []):
            targets.extend(t.get("targetProfile", []))
        return Element(
            name=name,
            path=path,
            types=types,
            min=int(el.get("min", 0)),
            max=None if mx == "*" else int(mx),
            is_array=base_max != "1",
            choice=choice,
            summary=bool(el.get("isSummary")),
            modifier=bool(el.get("isModifier")),
            binding=Binding(binding["strength"], binding.get("valueSet")) if binding else None,
            target_profiles=tuple(targets),
            constraints=tuple(el.get("constraint", [])),
            xml_attr="xmlAttr" in el.get("representation", ()),
            definition=el,
        )

    def type(self, name: str) -> TypeInfo | None:
        return self.types.get(name)

    def is_primitive(self, name: str) -> bool:
        return name in PRIMITIVE_TYPES

    def is_resource(self, name: str) -> bool:
        return name in self.resource_types

    def ancestors(self, name: str) -> list[str]:
        """``name`` and the types it specialises, nearest first (``Age`` → Age, Quantity, Element)."""
        out = []
        cur: str | None = name
        while cur is not None and cur not in out:
            out.append(cur)
            info = self.types.get(cur)
            cur = info.base if info else None
        return out


@cache
def model() -> Model:
    """The shared R4 model (built once per process, ~1 s)."""
    return Model()
