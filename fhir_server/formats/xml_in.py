"""FHIR XML to FHIR JSON (http://hl7.org/fhir/R4/xml.html, http://hl7.org/fhir/R4/json.html).

Reads an R4 resource in XML and returns the JSON form as dicts, typed by the R4 model: repeating
elements become arrays, primitive values get their JSON type (booleans, integers, decimals as
``Decimal`` to keep their precision), primitive id/extension go to ``_name`` (arrays aligned with
nulls), contained resources are unwrapped and the narrative ``div`` is kept as XHTML text.

The reader is strict: anything the XML rules of R4 do not allow is a ``FhirXmlError`` naming the
element, never silently dropped or guessed at. UTF-8 only; no DTD; every FHIR element in the
``http://hl7.org/fhir`` namespace and the narrative ``div`` in XHTML's; elements known to the type
and in the order its StructureDefinition defines; attributes only ``id``, ``value`` (primitives)
and ``url`` (Extension); no text content, CDATA or processing instructions in FHIR elements (comments
are fine); no empty elements or attributes; one resource per ``contained``/``resource`` element;
primitive values in their R4 lexical form (boolean, integer, decimal here; the other primitives'
formats are checked by the validator on the JSON form).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.parsers import expat

from fhir_server.fhir.decimals import decimal_reason
from fhir_server.model import PRIMITIVE_TYPES, Element, TypeInfo, model

FHIR_NS = "{http://hl7.org/fhir}"
XHTML_NS = "{http://www.w3.org/1999/xhtml}"
_XHTML_DIV = XHTML_NS + "div"
_XSI_SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
_NS_LEN = len(FHIR_NS)
_PI: Any = ET.ProcessingInstruction  # the tag of processing instructions in the tree (typed as str tags)
_COMMENT: Any = ET.Comment
_RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})
MAX_DEPTH = 200  # element nesting; far beyond any real resource, well within Python's stack
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_INTEGER_LOW = {"integer": INT32_MIN, "unsignedInt": 0, "positiveInt": 1}
_TYPED = frozenset({"boolean", "decimal", *_INTEGER_LOW})  # primitives whose JSON form is not a string

# The XML declaration's encoding, if any (xml.html: the character encoding SHALL be UTF-8).
_DECLARATION = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})


class FhirXmlError(ValueError):
    """The XML is not a FHIR resource; ``path`` names the element at fault when there is one."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


# name in XML → (position in the type's element order, element, type code), per type
_Child = tuple[int, Element, str]
_CHILDREN: dict[str, dict[str, _Child]] = {}
_ATTRS: dict[str, frozenset[str]] = {}


def _children(info: TypeInfo) -> dict[str, _Child]:
    found = _CHILDREN.get(info.name)
    if found is None:
        found = {}
        position = 0
        for element in info.elements.values():
            if element.xml_attr:
                continue
            for code in element.types:
                name = element.name + code[0].upper() + code[1:] if element.choice else element.name
                found[name] = (position, element, code)
            position += 1
        _CHILDREN[info.name] = found
        _ATTRS[info.name] = frozenset(e.name for e in info.elements.values() if e.xml_attr)
    return found


def _regex(code: str) -> re.Pattern[str]:
    info = model().type(code)
    assert info is not None and info.regex is not None
    return re.compile(info.regex, re.ASCII)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(code: str) -> re.Pattern[str]:
    found = _PATTERNS.get(code)
    if found is None:
        found = _PATTERNS[code] = _regex(code)
    return found


def parse_resource(text: str | bytes, *, strict_order: bool = True) -> dict[str, Any]:
    """The JSON form of one FHIR resource given as XML text.

    ``strict_order=False`` accepts elements out of their defined order (for reading test files that
    HL7 wrote by hand, such as the FHIRPath suite's ``observation-example.xml``); client input is
    always read strictly.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    _check_prolog(data)
    if b"<![CDATA[" in data or b"<!DOCTYPE" in data:
        _check_markup(data)  # before building the tree: a DTD is refused before any entity is expanded
    builder = ET.TreeBuilder(insert_pis=True)  # processing instructions land in the tree: refused there
    parser = ET.XMLParser(target=builder)
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as e:
        raise FhirXmlError(f"invalid XML: {e}") from e
    return element_to_resource(root, ordered=strict_order)


def _check_prolog(data: bytes) -> None:
    """UTF-8 only: a UTF-16/32 byte order mark or a declaration of another encoding is refused."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise FhirXmlError("FHIR XML must be encoded in UTF-8 (found a UTF-16/UTF-32 byte order mark)")
    head = data[:200].lstrip(b"\xef\xbb\xbf")
    if head.startswith(b"<?xml"):
        m = _DECLARATION.match(head)
        if m is not None and m.group(1).decode("ascii", "replace").lower() not in _UTF8_NAMES:
            shown = m.group(1).decode("ascii", "replace")
            raise FhirXmlError(f"FHIR XML must be encoded in UTF-8; the XML declaration says encoding '{shown}'")


def _check_markup(data: bytes) -> None:
    """The rare, exact check: no DTD, and CDATA sections only inside the XHTML narrative."""
    parser = expat.ParserCreate(namespace_separator="}")
    stack: list[bool] = []  # per open element: inside XHTML?

    def start(name: str, _attrs: Any) -> None:
        stack.append(name.startswith(XHTML_NS[1:]) or (bool(stack) and stack[-1]))

    def end(_name: str) -> None:
        stack.pop()

    def cdata() -> None:
        if not stack or not stack[-1]:
            raise FhirXmlError("CDATA sections are not allowed in FHIR elements (only inside the XHTML narrative)")

    def doctype(*_args: Any) -> None:
        raise FhirXmlError("a document type declaration (DTD) is not allowed in FHIR XML")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartCdataSectionHandler = cdata
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise FhirXmlError(f"invalid XML: {e}") from e


def element_to_resource(el: ET.Element, path: str = "", depth: int = 0, *, ordered: bool = True) -> dict[str, Any]:
    """The JSON form of a resource element (``<Patient xmlns="http://hl7.org/fhir">``)."""
    tag = el.tag
    if not isinstance(tag, str):
        raise FhirXmlError("a FHIR resource element was expected", path or None)
    if not tag.startswith(FHIR_NS):
        ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
        where = f"namespace '{ns}'" if ns else "no namespace"
        raise FhirXmlError(f"<{_local(tag)}> is in {where}; FHIR resources are in the namespace "
                           "'http://hl7.org/fhir'", path or None)
    rtype = tag[_NS_LEN:]
    info = model().type(rtype)
    if info is None or info.kind != "resource":
        raise FhirXmlError(f"{rtype} is not a FHIR resource type", path or None)
    here = f"{path}.{rtype}" if path else rtype
    for key in el.attrib:
        if not (key == _XSI_SCHEMA_LOCATION and not path):  # resources carry no attributes (id is an element)
            raise FhirXmlError(f"unknown attribute '{_local(key)}' on a resource element", here)
    out: dict[str, Any] = {"resourceType": rtype}
    _fill(el, info, out, here, depth, ordered)
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_text(s: str | None) -> bool:
    return bool(s) and not s.isspace()  # type: ignore[union-attr]


def _fill(el: ET.Element, info: TypeInfo, out: dict[str, Any], path: str, depth: int, ordered: bool) -> None:
    """Add the children of ``el`` (an element of type ``info``) to the JSON object ``out``."""
    if depth > MAX_DEPTH:
        raise FhirXmlError(f"elements are nested more than {MAX_DEPTH} levels deep", path)
    kids = _children(info)
    if _is_text(el.text):
        raise FhirXmlError("text content is not allowed in FHIR elements (values go in a 'value' attribute)", path)
    last = -1
    last_name = ""
    for child in el:
        tag = child.tag
        tail = child.tail
        if tail and not tail.isspace():
            raise FhirXmlError("text content is not allowed in FHIR elements (values go in a 'value' attribute)",
                               path)
        if not isinstance(tag, str):
            if tag is _PI:
                raise FhirXmlError("processing instructions are not allowed in FHIR elements", path)
            continue  # comments
        if tag.startswith(FHIR_NS):
            name = tag[_NS_LEN:]
            found = kids.get(name)
            if found is not None and found[2] == "xhtml":
                raise FhirXmlError(f"<{name}> must be in the XHTML namespace 'http://www.w3.org/1999/xhtml'", path)
        elif tag == _XHTML_DIV:
            name = "div"
            found = kids.get(name)
            if found is not None and found[2] != "xhtml":
                found = None
        else:
            ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
            where = f"namespace '{ns}'" if ns else "no namespace"
            raise FhirXmlError(f"element <{_local(tag)}> is in {where}; FHIR elements are in the namespace "
                               "'http://hl7.org/fhir'", path)
        if found is None:
            raise FhirXmlError(f"unknown element '{name}'", path)
        position, element, code = found
        if position <= last:
            if position < last and ordered:
                raise FhirXmlError(f"element '{name}' is out of order: it must come before '{last_name}'", path)
            if not element.is_array and (position == last or name in out or "_" + name in out):
                if element.choice and name != last_name:
                    raise FhirXmlError(f"only one of {element.name}[x] is allowed, found '{last_name}' and "
                                       f"'{name}'", path)
                raise FhirXmlError(f"element '{name}' appears more than once (at most one is allowed)", path)
        last, last_name = position, name
        _convert_child(child, name, code, element.is_array, out, path, depth + 1, ordered)
    for key in [k for k, v in out.items() if isinstance(v, list) and "_" + k in out and all(x is None for x in v)]:
        del out[key]  # primitives with only id/extension: the JSON form has just the "_name" array


def _attributes(el: ET.Element, info: TypeInfo, out: dict[str, Any], path: str, primitive: bool) -> None:
    allowed = _ATTRS[info.name]
    for key, value in el.attrib.items():
        if key == "value" and primitive:
            continue
        if key not in allowed:
            raise FhirXmlError(f"unknown attribute '{_local(key)}'", path)
        if not value.strip():
            raise FhirXmlError(f"attribute '{key}' is empty (attributes are absent or have a value)", path)
        out[key] = value


def _convert_child(child: ET.Element, name: str, code: str, is_array: bool, out: dict[str, Any], parent: str,
                   depth: int, ordered: bool) -> None:
    if code == "xhtml":
        if is_array or name in out:  # pragma: no cover - no repeating xhtml element in R4
            raise FhirXmlError(f"element '{name}' appears more than once", parent)
        out[name] = _xhtml(child)
        return
    if code in PRIMITIVE_TYPES:
        _add_primitive(child, name, code, is_array, out, parent, depth, ordered)
        return
    path = _path(parent, name, is_array, out)
    if code in _RESOURCE_TYPES:
        if child.attrib:
            raise FhirXmlError(f"unknown attribute '{_local(next(iter(child.attrib)))}'", path)
        if _is_text(child.text):
            raise FhirXmlError("text content is not allowed in FHIR elements", path)
        inner = [c for c in child if c.tag is not _COMMENT]
        if len(inner) != 1:
            found = "none" if not inner else f"{len(inner)}"
            raise FhirXmlError(f"must hold exactly one resource (found {found})", path)
        if _is_text(inner[0].tail):
            raise FhirXmlError("text content is not allowed in FHIR elements", path)
        _add(out, name, element_to_resource(inner[0], path, depth, ordered=ordered), is_array)
        return
    info = model().type(code)
    if info is None:  # pragma: no cover - every complex type of the model is known
        raise FhirXmlError(f"element '{name}' has a type this server does not know ({code})", path)
    obj: dict[str, Any] = {}
    if child.attrib:
        _children(info)
        _attributes(child, info, obj, path, False)
    _fill(child, info, obj, path, depth, ordered)
    if not obj:
        raise FhirXmlError("empty element (FHIR elements have a value, children or extensions)", path)
    _add(out, name, obj, is_array)


def _xhtml(el: ET.Element) -> str:
    ET.register_namespace("", "http://www.w3.org/1999/xhtml")
    for node in el.iter():
        if node.tag is _PI:
            raise FhirXmlError("processing instructions are not allowed in the narrative", "div")
    tail, el.tail = el.tail, None
    try:
        return ET.tostring(el, encoding="unicode", short_empty_elements=True).strip().replace(" />", "/>")
    finally:
        el.tail = tail


def _add(out: dict[str, Any], name: str, value: Any, is_array: bool) -> None:
    if is_array:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value


_ELEMENT = "Element"


def _path(parent: str, name: str, is_array: bool, out: dict[str, Any]) -> str:
    """The path of the element about to be added to ``out`` (with its index when it repeats)."""
    if is_array:
        return f"{parent}.{name}[{len(out.get(name) or out.get('_' + name) or ())}]"
    return f"{parent}.{name}"


def _add_primitive(child: ET.Element, name: str, code: str, is_array: bool, out: dict[str, Any], parent: str,
                   depth: int, ordered: bool) -> None:
    attrib = child.attrib
    raw = attrib.get("value")
    value = None
    if raw is not None:
        try:
            value = _typed(raw, code)
        except FhirXmlError as e:
            raise FhirXmlError(str(e), _path(parent, name, is_array, out)) from None
    ext: dict[str, Any] = {}
    if len(attrib) > (raw is not None):
        element_info = model().type(_ELEMENT)
        assert element_info is not None
        _children(element_info)
        _attributes(child, element_info, ext, _path(parent, name, is_array, out), True)
    if len(child) or _is_text(child.text):
        element_info = model().type(_ELEMENT)
        assert element_info is not None
        _fill(child, element_info, ext, _path(parent, name, is_array, out), depth, ordered)
    if value is None and not ext:
        raise FhirXmlError("empty element: a primitive needs a 'value' attribute or extensions",
                           _path(parent, name, is_array, out))
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
    """The JSON value of a primitive's ``value`` attribute; a FhirXmlError (without path) if malformed."""
    if raw == "":
        raise FhirXmlError("the 'value' attribute is empty (attributes are absent or have a value)")
    if code not in _TYPED:
        return raw  # strings, codes, dates...: their formats are the validator's (on the JSON form)
    if code == "boolean":
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise FhirXmlError(f"'{_shown(raw)}' is not a boolean (true or false)")
    low = _INTEGER_LOW.get(code)
    if low is not None:
        if _pattern(code).fullmatch(raw) is None:
            raise FhirXmlError(f"'{_shown(raw)}' is not a valid {code}")
        number = int(raw) if len(raw) <= 12 else INT32_MAX + 1  # int() of thousands of digits is refused
        if not low <= number <= INT32_MAX:
            raise FhirXmlError(f"'{_shown(raw)}' is out of range for {code} ({low} to {INT32_MAX})")
        return number
    if code == "decimal":
        if _pattern(code).fullmatch(raw) is None:
            raise FhirXmlError(f"'{_shown(raw)}' is not a valid decimal")
        try:
            dec = Decimal(raw)
        except InvalidOperation as e:  # pragma: no cover - the pattern admits only valid decimals
            raise FhirXmlError(f"'{_shown(raw)}' is not a valid decimal") from e
        reason = decimal_reason(dec)
        if reason is not None:
            raise FhirXmlError(f"decimal '{_shown(raw)}' {reason}")
        return dec
    return raw


def _shown(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:37] + "..."
