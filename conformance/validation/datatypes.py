"""Data type rules beyond the element definitions (http://hl7.org/fhir/R4/datatypes.html, references.html).

- Attachment: ``size`` is the number of bytes of the decoded ``data`` (datatypes.html#Attachment).
- Coding: ``system`` is an absolute URI, and names a code system, not a value set (terminologies.html).
- Reference: a literal reference's type must be one of the element's target types (references.html).
- markdown: with ``markdown_no_html``, no embedded HTML tags.
- uri/url/canonical: no example URLs (example.org, ...) when they are disallowed.
- Narrative: an internal link ``href="#x"`` must point at an ``id``/``name`` in the narrative or a
  contained resource.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from conformance.validation.context import Ctx, is_example_url, seq
from conformance.validation.profile import Node
from conformance.validation.registry import CORE_PREFIX
from fhir_server.fhirpath.resolve import literal
from fhir_server.validation.issues import Loc

_HTML_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9]*(\s[^>]*)?/?>")
_HREF = re.compile(r"""href\s*=\s*["']#([^"']*)["']""")
_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']*)["']""")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def check(ctx: Ctx, value: Any, type_code: str, node: Node, loc: Loc, core: bool) -> None:
    if core:
        rule = _CORE_RULES.get(type_code)
        if rule is not None:
            rule(ctx, value, loc)
    if type_code == "Reference" and isinstance(value, dict):
        _reference(ctx, value, node, loc)


def _attachment(ctx: Ctx, value: Any, loc: Loc) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("data"), str) or not isinstance(value.get("size"), int):
        return
    try:
        actual = len(base64.b64decode(value["data"], validate=False))
    except (binascii.Error, ValueError):
        return
    if actual != value["size"]:
        ctx.error("structure", f"Stated Attachment size {value['size']} does not match the actual size {actual}", loc)


def _coding(ctx: Ctx, value: Any, loc: Loc) -> None:
    system = value.get("system") if isinstance(value, dict) else None
    if not isinstance(system, str):
        return
    if not _ABSOLUTE.match(system):
        ctx.error(
            "invalid",
            f"Coding.system must be an absolute reference, not a local reference ('{system}')",
            (loc, "system", -1),
        )
    elif ctx.registry.is_value_set(system):
        ctx.error("invalid", f"The Coding references a value set, not a code system ('{system}')", (loc, "system", -1))


def _markdown(ctx: Ctx, value: Any, loc: Loc) -> None:
    if ctx.options.markdown_no_html and isinstance(value, str) and _HTML_TAG.search(value):
        ctx.error("invalid", "The markdown contains content that appears to be an embedded HTML tag", loc)


def _narrative(ctx: Ctx, value: Any, loc: Loc) -> None:
    div = value.get("div") if isinstance(value, dict) else None
    if not isinstance(div, str) or "#" not in div:
        return
    anchors = set(_ANCHOR.findall(div))
    resource = ctx.resources[-1] if ctx.resources else {}
    anchors |= {c.get("id") for c in seq(resource.get("contained")) if isinstance(c, dict)}
    for target in _HREF.findall(div):
        if target and target not in anchors:
            ctx.error("invalid", f"Hyperlink '#{target}' in the narrative does not resolve", (loc, "div", -1))


def _url(ctx: Ctx, value: Any, loc: Loc) -> None:
    if not ctx.options.allow_examples and isinstance(value, str) and is_example_url(value):
        ctx.error("invalid", f"Example URLs are not allowed in this context ({value})", loc)


_CORE_RULES = {
    "Attachment": _attachment,
    "Coding": _coding,
    "markdown": _markdown,
    "Narrative": _narrative,
    "uri": _url,
    "url": _url,
    "canonical": _url,
}


def _target_profiles(ctx: Ctx, ref: str, target: Any, node: Node, loc: Loc) -> None:
    """A reference whose element names profiles (not only types) must point at a conforming resource."""
    urls = [
        u
        for t in node.types
        if t.code == "Reference"
        for u in t.targets
        if not (u.startswith(CORE_PREFIX) and "/" not in u[len(CORE_PREFIX) :])
    ]
    if not urls or not isinstance(target, dict):
        return
    unknown = [u for u in urls if ctx.registry.structure_definition(u) is None]
    for u in unknown:
        ctx.error("structure", f"Unable to resolve the profile reference '{u}'", loc)
    if unknown:
        return
    from conformance.validation.engine import conforms

    if not any(conforms(ctx, target, u) for u in urls):
        ctx.error(
            "structure", f"The resource {ref} does not conform to any of the target profiles {', '.join(urls)}", loc
        )


def target_types(ctx: Ctx, node: Node) -> set[str] | None:
    """The resource types a Reference element may point to; None when any type or unknown profiles."""
    out: set[str] = set()
    for t in node.types:
        if t.code != "Reference":
            continue
        if not t.targets:
            return None
        for url in t.targets:
            if url.startswith(CORE_PREFIX) and "/" not in url[len(CORE_PREFIX) :]:
                name = url[len(CORE_PREFIX) :]
            else:
                sd = ctx.registry.structure_definition(url)
                if sd is None:
                    return None
                name = str(sd.get("type"))
            if name == "Resource":
                return None
            out.add(name)
    return out or None


def _reference(ctx: Ctx, value: Any, node: Node, loc: Loc) -> None:
    ref = value.get("reference")
    if not isinstance(ref, str) or ref.startswith("#"):
        return
    target = ctx.resolver(ref) if ctx.bundles else None
    if target is None and ctx.options.resolve_references and ctx.bundles and literal(ref) and "://" not in ref:
        ctx.error("structure", f"Unable to resolve resource with reference '{ref}'", loc)
    _target_profiles(ctx, ref, target, node, loc)
    parsed = literal(ref)
    found = parsed[0] if parsed is not None else None
    if found is None and isinstance(value.get("type"), str):
        found = value["type"]
    allowed = target_types(ctx, node)
    if found is None or allowed is None or found in allowed:
        return
    ctx.error(
        "structure",
        f"The type '{found}' implied by the reference {ref} is not a valid target for this "
        f"element (must be one of {', '.join(sorted(allowed))})",
        loc,
    )
