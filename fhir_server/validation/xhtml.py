"""Narrative XHTML (http://hl7.org/fhir/R4/narrative.html#xhtml): basic checks of ``Narrative.div``.

Not a full XML parser: one pass over the markup checks that the fragment is a single ``<div>`` in
the XHTML namespace, that tags nest and close, that ``&`` only starts an entity reference, that only
the elements txt-1 allows appear (HTML 4.0 chapters 7-11 except 9.4, and 15, plus ``a``/``img``),
with no event attributes (``onclick``, ...), and that there is some content (txt-2).
"""

from __future__ import annotations

import re

XHTML_NS = "http://www.w3.org/1999/xhtml"

# txt-1: the basic HTML 4.0 formatting elements, <a> and images; no head/body/script/form/frames/objects.
ALLOWED_ELEMENTS = frozenset(
    {
        "a", "abbr", "acronym", "address", "area", "b", "bdo", "big", "blockquote", "br", "caption",
        "cite", "code", "col", "colgroup", "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "kbd", "li", "map", "ol", "p", "pre", "q", "samp", "small", "span",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
    }
)

_ATTR = r"""[A-Za-z_:][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*')"""
_MARKUP = re.compile(
    rf"<!--.*?-->|<(/?)([A-Za-z_][\w.:-]*)((?:\s+{_ATTR})*)\s*(/?)>",
    re.S,
)
_ATTR_NAMES = re.compile(r"""([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_BAD_AMP = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);)")
_ROOT = re.compile(r"""\s*<div\s[^>]*\bxmlns\s*=\s*(["'])http://www\.w3\.org/1999/xhtml\1""")


def check_xhtml(div: str) -> str | None:
    """None when ``div`` passes the basic narrative checks, else the reason."""
    if _ROOT.match(div) is None:
        return f'must be a <div> element with xmlns="{XHTML_NS}"'
    last_close = div.rfind("-->")
    if div.find("<!--", last_close + 3 if last_close >= 0 else 0) >= 0:
        return "is not well-formed XHTML (an unclosed comment)"  # checked first: keeps the scan linear
    stack: list[str] = []
    pos = 0
    content = False
    for m in _MARKUP.finditer(div):
        reason = _text_reason(div[pos : m.start()])
        if reason is not None:
            return reason
        content = content or bool(stack and div[pos : m.start()].strip())
        pos = m.end()
        close, name, attrs, empty = m.group(1, 2, 3, 4)
        if name is None:  # a comment
            continue
        reason = _tag_reason(stack, bool(close), name, attrs or "", bool(empty))
        if reason is not None:
            return reason
        content = content or name == "img"
        if not stack:
            return _tail_reason(div[pos:], content)
    return "is not well-formed: the root <div> is not closed"


def _text_reason(text: str) -> str | None:
    if "<" in text:
        return "is not well-formed XHTML (a '<' that does not start a tag)"
    if "&" in text and _BAD_AMP.search(text):
        return "is not well-formed XHTML (a '&' that does not start an entity reference)"
    return None


def _tag_reason(stack: list[str], close: bool, name: str, attrs: str, empty: bool) -> str | None:
    if close:
        if not stack or stack[-1] != name:
            return f"is not well-formed XHTML (unexpected </{name}>)"
        stack.pop()
        return None
    local = name.rsplit(":", 1)[-1]
    if local not in ALLOWED_ELEMENTS:
        return f"contains the element <{name}>, which narrative XHTML does not allow"
    for attr in _ATTR_NAMES.finditer(attrs):
        if attr.group(1).lower().startswith("on"):
            return f"contains the event attribute {attr.group(1)}, which narrative XHTML does not allow"
    if not empty:
        stack.append(name)
    return None


def _tail_reason(tail: str, content: bool) -> str | None:
    if tail.strip():
        return "has content after the root </div>"
    if not content:
        return "must have some non-whitespace content (txt-2)"
    return None
