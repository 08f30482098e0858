"""FHIR XML to FHIR JSON (http://hl7.org/fhir/R4/xml.html, http://hl7.org/fhir/R4/json.html).

Reads an R4 resource in XML and returns the JSON form as dicts, typed by the R4 model: repeating
elements become arrays, primitive values get their JSON type (booleans, integers, decimals as
``Decimal`` to keep their precision), primitive id/extension go to ``_name`` (arrays aligned with
nulls), contained resources are unwrapped and the narrative ``div`` is kept as XHTML text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir_server.model import PRIMITIVE_TYPES, TypeInfo, model

FHIR_NS = "{http://hl7.org/fhir}"
XHTML_NS = "{http://www.w3.org/1999/xhtml}"
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
_RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})


class FhirXmlError(ValueError):
    """The XML is not a FHIR resource."""


def parse_resource(text: str | bytes) -> dict[str, Any]:
    """The JSON form of one FHIR resource given as XML text."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise FhirXmlError(f"invalid XML: {e}") from e
    return element_to_resource(root)


def element_to_resource(el: ET.Element) -> dict[str, Any]:
    """The JSON form of a resource element (``<Patient xmlns="http://hl7.org/fhir">``)."""
    rtype = _local(el.tag)
    info = model().type(rtype)
    if info is None or info.kind != "resource":
        raise FhirXmlError(f"{rtype} is not a FHIR resource type")
    out: dict[str, Any] = {"resourceType": rtype}
    _fill(el, info, out)
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fill(el: ET.Element, info: TypeInfo | None, out: dict[str, Any]) -> None:
    """Add the children of ``el`` (an element of type ``info``) to the JSON object ``out``."""
    for key in ("id", "url"):
        if key in el.attrib and (info is None or key in info.elements):
            out[key] = el.attrib[key]
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments
        name = _local(child.tag)
        found = info.prop(name) if info is not None else None
        if found is None:
            _add(out, name, _untyped(child), False)
            continue
        element, code = found
        _convert_child(child, name, code, element.is_array, out)
    for key in [k for k, v in out.items() if isinstance(v, list) and "_" + k in out and all(x is None for x in v)]:
        del out[key]  # primitives with only id/extension: the JSON form has just the "_name" array


def _convert_child(child: ET.Element, name: str, code: str, is_array: bool, out: dict[str, Any]) -> None:
    if code == "xhtml":
        out[name] = _xhtml(child)
        return
    if code in PRIMITIVE_TYPES:
        _add_primitive(child, name, code, is_array, out)
        return
    if code in _RESOURCE_TYPES:
        inner = next((c for c in child if isinstance(c.tag, str)), None)
        if inner is not None:
            _add(out, name, element_to_resource(inner), is_array)
        return
    obj: dict[str, Any] = {}
    _fill(child, model().type(code), obj)
    _add(out, name, obj, is_array)


def _xhtml(el: ET.Element) -> str:
    ET.register_namespace("", "http://www.w3.org/1999/xhtml")
    return ET.tostring(el, encoding="unicode", short_empty_elements=True).strip().replace(" />", "/>")


def _add(out: dict[str, Any], name: str, value: Any, is_array: bool) -> None:
    if is_array:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value


def _add_primitive(child: ET.Element, name: str, code: str, is_array: bool, out: dict[str, Any]) -> None:
    raw = child.attrib.get("value")
    value = None if raw is None else _typed(raw, code)
    ext: dict[str, Any] = {}
    _fill(child, model().type("Element"), ext)
    if not is_array:
        if value is not None:
            out[name] = value
        if ext:
            out["_" + name] = ext
        return
    values = out.setdefault(name, [])
    exts = out.get("_" + name)
    if ext and exts is None:
        exts = out["_" + name] = [None] * len(values)
    values.append(value)
    if exts is not None:
        exts.append(ext or None)


def _typed(raw: str, code: str) -> Any:
    if code == "boolean":
        return raw == "true"
    if code in _INTEGER_TYPES:
        try:
            return int(raw)
        except ValueError:
            return raw
    if code == "decimal":
        try:
            return Decimal(raw)
        except InvalidOperation:
            return raw
    return raw


def _untyped(el: ET.Element) -> Any:
    """An element the model does not know: its value attribute, or its children as an object."""
    if "value" in el.attrib and len(el) == 0:
        return el.attrib["value"]
    out: dict[str, Any] = {k: v for k, v in el.attrib.items() if k != "value"}
    for child in el:
        if isinstance(child.tag, str):
            _add(out, _local(child.tag), _untyped(child), False)
    return out
