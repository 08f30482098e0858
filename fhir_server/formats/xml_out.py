"""FHIR JSON to FHIR XML (http://hl7.org/fhir/R4/xml.html).

Elements come out in the order of the StructureDefinitions; primitives are ``<name value="…"/>``
with their ``_name`` id/extensions inside; element ids and ``Extension.url`` are attributes; the
narrative ``div`` is written as the XHTML it holds; resources inside resources (``contained``,
``Bundle.entry.resource``) are wrapped in their element.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from fhir_server.model import PRIMITIVE_TYPES, Element, TypeInfo, model

FHIR_NS = "http://hl7.org/fhir"
_RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})
Json = dict[str, Any]


class FhirXmlWriteError(ValueError):
    """The JSON is not a resource the model knows."""


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def primitive_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    return str(value)


class _Writer:
    def __init__(self, pretty: bool) -> None:
        self.parts: list[str] = []
        self.pretty = pretty

    def line(self, depth: int, text: str) -> None:
        if self.pretty:
            self.parts.append("  " * depth + text + "\n")
        else:
            self.parts.append(text)

    def resource(self, res: Json, depth: int, root: bool = False) -> None:
        rtype = res.get("resourceType")
        info = model().type(rtype) if isinstance(rtype, str) else None
        if info is None or info.kind != "resource":
            raise FhirXmlWriteError(f"'{rtype}' is not a FHIR resource type")
        ns = f' xmlns="{FHIR_NS}"' if root else ""
        self.line(depth, f"<{rtype}{ns}>")
        self.children(res, info, depth + 1)
        self.line(depth, f"</{rtype}>")

    def children(self, obj: Json, info: TypeInfo, depth: int) -> None:
        for element in info.elements.values():
            if element.xml_attr:
                continue
            if element.choice:
                for code in element.types:
                    key = element.name + _cap(code)
                    if key in obj or "_" + key in obj:
                        self.element(obj, key, element, code, depth)
            elif element.name in obj or "_" + element.name in obj:
                self.element(obj, element.name, element, element.types[0] if element.types else "", depth)

    def element(self, obj: Json, key: str, element: Element, code: str, depth: int) -> None:
        value, ext = obj.get(key), obj.get("_" + key)
        if code in PRIMITIVE_TYPES and code != "xhtml":
            if isinstance(value, list) or isinstance(ext, list):
                values = value if isinstance(value, list) else [None] * len(ext or [])
                exts = ext if isinstance(ext, list) else [None] * len(values)
                for v, e in zip(values, exts, strict=False):
                    self.primitive(key, v, e, depth)
            else:
                self.primitive(key, value, ext, depth)
            return
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if code == "xhtml":
                self.line(depth, str(item))
            elif code in _RESOURCE_TYPES:
                self.line(depth, f"<{key}>")
                self.resource(item, depth + 1)
                self.line(depth, f"</{key}>")
            else:
                self.complex(key, item, code, depth)

    def attributes(self, obj: Json, info: TypeInfo | None) -> str:
        out = ""
        if info is not None:
            for element in info.elements.values():
                if element.xml_attr and isinstance(obj.get(element.name), str):
                    out += f" {element.name}={quoteattr(obj[element.name])}"
        return out

    def primitive(self, key: str, value: Any, ext: Any, depth: int) -> None:
        element_info = model().type("Element")
        attrs = self.attributes(ext, element_info) if isinstance(ext, dict) else ""
        if value is not None:
            attrs += f" value={quoteattr(primitive_text(value))}"
        if isinstance(ext, dict) and ext.get("extension"):
            self.line(depth, f"<{key}{attrs}>")
            assert element_info is not None
            self.children(ext, element_info, depth + 1)
            self.line(depth, f"</{key}>")
        else:
            self.line(depth, f"<{key}{attrs}/>")

    def complex(self, key: str, obj: Any, code: str, depth: int) -> None:
        info = model().type(code)
        if not isinstance(obj, dict) or info is None:
            self.line(depth, f"<{key}>{escape(str(obj))}</{key}>")
            return
        attrs = self.attributes(obj, info)
        body = _Writer(self.pretty)
        body.children(obj, info, depth + 1)
        if body.parts:
            self.line(depth, f"<{key}{attrs}>")
            self.parts.extend(body.parts)
            self.line(depth, f"</{key}>")
        else:
            self.line(depth, f"<{key}{attrs}/>")


def resource_to_xml(resource: Json, *, pretty: bool = False, declaration: bool = True) -> str:
    """The XML form of one resource (a parsed FHIR JSON object)."""
    w = _Writer(pretty)
    if declaration:
        w.line(0, '<?xml version="1.0" encoding="UTF-8"?>')
    w.resource(resource, 0, root=True)
    return "".join(w.parts)
