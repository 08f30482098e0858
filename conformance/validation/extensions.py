"""Extensions (http://hl7.org/fhir/R4/extensibility.html, defining-extensions.html#context).

An extension is checked against its definition, found by ``url`` in the registry: where it may be
used (``context``: an element path or type, an extension) and what it may hold (the definition's
own cardinality, ``value[x]`` types, bindings and invariants, through the profile walker). An
extension no registry knows is reported as the options say (error, warning, or nothing); example
URLs (example.org, ...) are fine unless example URLs are disallowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from conformance.validation.context import EXAMPLE_EXTENSION_HOSTS, Ctx, is_example_url, seq
from fhir_server.model import model
from fhir_server.validation.issues import Loc, render

Json = dict[str, Any]
ProfileCheck = Callable[[Ctx, Json, str, Loc], bool]
_INDEX = re.compile(r"\[\d+\]$")
HL7_NAMESPACE = "http://hl7.org/fhir/StructureDefinition/"


def where(loc: Loc) -> tuple[set[str], str]:
    """The names the element at ``loc`` answers to in an extension context (its path from the
    resource and from its nearest data type, without indices), and its type name."""
    path: list[str] = []
    local: list[str] = []
    type_name = ""
    m = model()
    for raw in render(loc).split("."):
        seg = _INDEX.sub("", raw)
        if seg.startswith("ofType("):
            inner = seg[7:-1]
            if m.is_resource(inner):
                path, local = [inner], [inner]
            type_name = inner
        elif not path:
            path, local, type_name = [seg], [seg], seg
        else:
            if type_name and "." not in type_name and not m.is_resource(type_name):
                local = [type_name]
            info = m.type(type_name)
            element = info.elements.get(seg) if info is not None else None
            path.append(seg)
            local.append(seg)
            type_name = element.types[0] if element is not None and len(element.types) == 1 else ""
    return {".".join(path), ".".join(local)}, type_name


# R4's own definitions put structuredefinition-fhir-type on ElementDefinition.type (Element.id, ...)
# although its context says ElementDefinition.type.code: the definitions' use is accepted too.
_USED_BY_R4_ITSELF = {"ElementDefinition.type.code": "ElementDefinition.type"}


def _context_ok(contexts: list[Json], paths: set[str], type_name: str) -> bool:
    if not contexts:
        return True
    if any(_USED_BY_R4_ITSELF.get(str(c.get("expression"))) in paths for c in contexts):
        return True
    m = model()
    kinds = m.ancestors(type_name) if type_name else []
    if "." in type_name:
        kinds = [type_name, "BackboneElement", "Element"]
    for c in contexts:
        kind, expr = c.get("type"), str(c.get("expression", "")).replace("[x]", "")
        if kind != "element" or expr == "Element" or expr in paths or expr in kinds:
            return True
        if type_name and m.is_resource(type_name) and expr in ("Resource", "DomainResource"):
            return True
        if expr in ("CanonicalResource", "MetadataResource") and type_name and m.is_resource(type_name):
            info = m.type(type_name)
            return info is not None and "url" in info.elements  # R5 names for R4's canonical resources
    return False


def check_unsliced(ctx: Ctx, ext: Json, here: Loc, parent: Loc, check_profile: ProfileCheck) -> None:
    url = ext.get("url")
    if not isinstance(url, str):
        return
    base_url = url.split("|", 1)[0]
    sd = ctx.registry.structure_definition(base_url)
    if sd is None or sd.get("type") != "Extension":
        _unknown(ctx, url, here)
        return
    paths, type_name = where(parent)
    if not _context_ok(seq(sd.get("context")), paths, type_name):
        shown = " / ".join(sorted(paths))
        ctx.error("structure", f"The extension {url} is not allowed to be used at this point ({shown})", here)
    check_profile(ctx, ext, base_url, here)


def _unknown(ctx: Ctx, url: str, here: Loc) -> None:
    opts = ctx.options
    if "://" not in url and not url.startswith("urn:"):
        return  # a sub-extension of a complex extension: its definition is the parent's
    if any(url.startswith(d) for d in opts.allowed_extension_domains):
        return
    if url.startswith(HL7_NAMESPACE):  # another FHIR version's core extension (cross-version use)
        ctx.warning("structure", f"The extension {url} is not an R4 extension, so it was not checked", here)
        return
    if is_example_url(url):
        if opts.allow_examples and is_example_url(url, EXAMPLE_EXTENSION_HOSTS):
            return
        if not opts.allow_examples:
            ctx.error("invalid", f"Example URLs are not allowed in this context ({url})", (here, "url", -1))
    message = f"The extension {url} could not be found so is not allowed here"
    if opts.unknown_extensions == "error":
        ctx.error("structure", message, here)
    elif opts.unknown_extensions == "warning":
        ctx.warning("structure", message, here)
