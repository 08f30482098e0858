"""FHIR narrative checks for htmlChecks() (http://hl7.org/fhir/R4/narrative.html#xhtml, txt-1 / txt-2).

The div must be well-formed XHTML rooted at ``<div xmlns="http://www.w3.org/1999/xhtml">``, use only
the basic HTML formatting elements (HTML 4 chapters 7-11 and 15, plus ``a`` and ``img``), carry no
active content (event attributes, ``javascript:`` URLs) and have some non-whitespace content.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

XHTML = "{http://www.w3.org/1999/xhtml}"
ALLOWED_ELEMENTS = frozenset(
    {
        "a", "abbr", "acronym", "address", "b", "bdo", "big", "blockquote", "br", "caption", "center",
        "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "tt", "u", "ul", "var",
    }
)


def html_checks(div: str) -> bool:
    """Does the narrative ``div`` follow the FHIR XHTML rules?"""
    try:
        root = ET.fromstring(div)
    except ET.ParseError:
        return False
    if root.tag != XHTML + "div":
        return False
    has_content = False
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if not el.tag.startswith(XHTML) or el.tag[len(XHTML):] not in ALLOWED_ELEMENTS:
            return False
        if not _safe_attributes(el):
            return False
        if (el.text and el.text.strip()) or (el.tail and el.tail.strip() and el is not root):
            has_content = True
        if el.tag == XHTML + "img":
            has_content = True
    return has_content


def _safe_attributes(el: ET.Element) -> bool:
    for name, value in el.attrib.items():
        local = name.rsplit("}", 1)[-1].lower()
        if local.startswith("on"):
            return False
        if local in ("href", "src") and value.strip().lower().startswith(("javascript:", "vbscript:")):
            return False
    return True
