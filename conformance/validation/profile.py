"""Compiled profiles (http://hl7.org/fhir/R4/elementdefinition.html): a snapshot as a tree of element rules.

A :class:`Profile` is built once per StructureDefinition (its snapshot generated first when it only
has a differential) and cached by the :class:`~conformance.validation.registry.Registry`. Each
:class:`Node` holds what the walker checks at one element: cardinality, types with their profiles
and target profiles, fixed[x]/pattern[x], binding, the invariants compiled to FHIRPath closures,
value limits, and slicing with its slices (each a node of its own) and the children by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.validation import snapshot
from conformance.validation.context import seq
from conformance.validation.invariants import Invariant, compile_constraints
from conformance.validation.registry import CORE_PREFIX, Registry, core_url
from fhir_server.model import FHIR_TYPE_EXT, FHIRPATH_SYSTEM

Element = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Discriminator:
    type: str  # value | exists | pattern | type | profile
    path: str


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str  # open | closed | openAtEnd
    ordered: bool


@dataclass(eq=False, slots=True)
class Node:
    """The rules of one element of a profile."""

    id: str
    path: str
    name: str  # the JSON element name without [x]
    min: int
    max: int | None
    types: tuple[TypeRef, ...]
    choice: bool = False
    fixed: Any = None
    pattern: Any = None
    has_fixed: bool = False
    has_pattern: bool = False
    binding: tuple[str, str] | None = None  # (strength, value set URL)
    additional: tuple[str, ...] = ()  # value sets of "required" additional bindings (R5 extension)
    invariants: tuple[Invariant, ...] = ()
    max_length: int | None = None
    min_value: tuple[str, Any] | None = None  # (type suffix, value)
    max_value: tuple[str, Any] | None = None
    content_ref: str | None = None
    slice_name: str | None = None
    slicing: Slicing | None = None
    slices: list[Node] = field(default_factory=list)
    children: dict[str, Node] = field(default_factory=dict)

    def type_codes(self) -> frozenset[str]:
        return frozenset(t.code for t in self.types)


@dataclass(eq=False, slots=True)
class Profile:
    url: str
    name: str
    type: str  # the resource or data type it constrains
    core: bool  # one of the R4 base definitions (its rules are the structural validator's too)
    root: Node
    resource: Element
    errors: tuple[str, ...] = ()  # snapshot generation problems
    by_id: dict[str, Node] = field(default_factory=dict)


def _int(v: Any, default: int | None) -> int | None:
    if v == "*" or v is None:
        return None if v == "*" else default
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _prefixed(el: Element, prefix: str) -> tuple[bool, Any]:
    for key, value in el.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return True, value
    return False, None


def _limit(el: Element, prefix: str) -> tuple[str, Any] | None:
    for key, value in el.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return key[len(prefix) :], value
    return None


def _slicing(el: Element) -> Slicing | None:
    s = el.get("slicing")
    if not isinstance(s, dict):
        return None
    discs = tuple(
        Discriminator(str(d.get("type", "value")), str(d.get("path", "$this")))
        for d in s.get("discriminator", ())
        if isinstance(d, dict)
    )
    return Slicing(discs, str(s.get("rules", "open")), bool(s.get("ordered", False)))


def _additional(binding: Element) -> tuple[str, ...]:
    """Required additional bindings (the R5 ``binding.additional`` as its cross-version extension)."""
    out: list[str] = []
    for ext in seq(binding.get("extension")):
        if not isinstance(ext, dict) or not str(ext.get("url", "")).endswith("ElementDefinition.binding.additional"):
            continue
        parts = {p.get("url"): p for p in seq(ext.get("extension")) if isinstance(p, dict)}
        purpose, vs = parts.get("purpose", {}).get("valueCode"), parts.get("valueSet", {}).get("valueCanonical")
        if purpose == "required" and isinstance(vs, str):
            out.append(vs)
    return tuple(out)


def _code(t: Element) -> str:
    """The FHIR type code (``id``, ``url`` elements carry FHIRPath system types with an extension)."""
    code = str(t.get("code"))
    if code.startswith(FHIRPATH_SYSTEM):
        for ext in seq(t.get("extension")):
            if isinstance(ext, dict) and ext.get("url") == FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri"))
        return "string"
    return code


def node_of(el: Element, type_name: str) -> Node:
    path = str(el["path"])
    raw = path.rsplit(".", 1)[-1]
    types = tuple(
        TypeRef(_code(t), tuple(seq(t.get("profile"))), tuple(seq(t.get("targetProfile"))))
        for t in seq(el.get("type"))
        if isinstance(t, dict)
    )
    has_fixed, fixed = _prefixed(el, "fixed")
    has_pattern, pattern = _prefixed(el, "pattern")
    binding = el.get("binding") or {}
    vs = binding.get("valueSet")
    return Node(
        id=snapshot.element_id(el),
        path=path,
        name=raw.removesuffix("[x]"),
        min=_int(el.get("min"), 0) or 0,
        max=_int(el.get("max", "*"), None),
        types=types,
        choice=raw.endswith("[x]"),
        fixed=fixed,
        pattern=pattern,
        has_fixed=has_fixed,
        has_pattern=has_pattern,
        binding=(str(binding.get("strength")), vs) if isinstance(vs, str) else None,
        additional=_additional(binding),
        invariants=compile_constraints(seq(el.get("constraint")), type_name),
        max_length=_int(el.get("maxLength"), None),
        min_value=_limit(el, "minValue"),
        max_value=_limit(el, "maxValue"),
        content_ref=el["contentReference"].lstrip("#") if isinstance(el.get("contentReference"), str) else None,
        slice_name=el.get("sliceName"),
        slicing=_slicing(el),
    )


def build_tree(elements: list[Element], type_name: str) -> tuple[Node, dict[str, Node]]:
    """The node tree of a snapshot; also every node by id."""
    by_id: dict[str, Node] = {}
    root = node_of(elements[0], type_name)
    by_id[root.id] = root
    for el in elements[1:]:
        n = node_of(el, type_name)
        by_id[n.id] = n
        head, _, last = n.id.rpartition(".")
        if ":" in last and n.slice_name:
            base = by_id.get(f"{head}.{last.split(':', 1)[0]}")
            if base is not None:
                base.slices.append(n)
            continue
        parent = by_id.get(head)
        if parent is not None:
            parent.children[n.name] = n
    return root, by_id


def snapshot_of(registry: Registry, sd: Element, errors: list[str], depth: int = 0) -> list[Element] | None:
    """The snapshot of a StructureDefinition, generated from its differential when it has none."""
    snap = (sd.get("snapshot") or {}).get("element")
    if snap:
        return list(snap)
    diff = (sd.get("differential") or {}).get("element")
    base_url = sd.get("baseDefinition")
    if not diff or not isinstance(base_url, str) or depth > 10:
        errors.append("The profile has neither a snapshot nor a differential on a known base")
        return None
    base_sd = registry.structure_definition(base_url)
    if base_sd is None or base_sd is sd or base_url == sd.get("url"):
        errors.append(f"The base profile {base_url} is not known (or is the profile itself)")
        return None
    base = snapshot_of(registry, base_sd, errors, depth + 1)
    if base is None:
        return None

    def type_snapshot(name: str) -> list[Element] | None:
        found = registry.structure_definition(name if "/" in name else core_url(name))
        return snapshot_of(registry, found, [], depth + 1) if found is not None else None

    return snapshot.generate(diff, base, type_snapshot, errors)


def build(registry: Registry, url: str) -> Profile | None:
    """Compile the StructureDefinition ``url`` (the registry caches the result)."""
    sd = registry.structure_definition(url)
    if sd is None:
        return None
    errors: list[str] = []
    elements = snapshot_of(registry, sd, errors)
    if not elements:
        return None
    type_name = str(sd.get("type") or elements[0]["path"])
    root, by_id = build_tree(elements, type_name)
    core = url.startswith(CORE_PREFIX) and sd.get("derivation") != "constraint" and "/" not in url[len(CORE_PREFIX) :]
    return Profile(url, str(sd.get("name", "")), type_name, core, root, sd, tuple(errors), by_id)


def profile(registry: Registry, url: str) -> Profile | None:
    return registry.profile(url, build)
