"""Snapshot generation from a differential (http://hl7.org/fhir/R4/profiling.html#snapshot).

The base's snapshot is copied, then each differential element is applied in order: found by id (or
path), it is merged into the matching element; a new ``sliceName`` adds a slice after the sliced
element's existing slices, starting from a copy of the sliced element and its children; a path that
goes below what the snapshot shows unfolds the element's type (its own snapshot, renamed under the
element) first. What a constraint may not do is reported: paths that name no element, cardinality
wider than the base's, a fixed value that contradicts the base's, slicing on the root element.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

Element = dict[str, Any]
BaseLookup = Callable[[str], list[Element] | None]  # base profile URL or type name → its snapshot

_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\[x\])?")
_MERGED_LISTS = ("constraint", "mapping", "condition")
_DEFAULTS_ONLY = ("id", "path")


def seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class SnapshotError(ValueError):
    """The differential cannot be applied to its base."""


def element_id(el: Element) -> str:
    """The element's id; for an element without one, its path (and slice name)."""
    eid = el.get("id")
    if isinstance(eid, str):
        return eid
    path = str(el.get("path", ""))
    return f"{path}:{el['sliceName']}" if el.get("sliceName") else path


def generate(
    differential: list[Element], base: list[Element], type_snapshot: BaseLookup, errors: list[str]
) -> list[Element]:
    """The snapshot of a profile: ``base``'s snapshot with ``differential`` applied; problems go to ``errors``."""
    out = [copy.deepcopy(e) for e in base]
    for e in out:
        e["id"] = element_id(e)
    root = out[0]["path"] if out else ""
    for d in differential:
        try:
            _apply(out, d, root, type_snapshot)
        except SnapshotError as exc:
            errors.append(str(exc))
    return out


def _apply(out: list[Element], d: Element, root: str, type_snapshot: BaseLookup) -> None:
    path = d.get("path")
    if not isinstance(path, str) or not _valid_path(path, root):
        raise SnapshotError(f"Invalid path '{path}' in the differential (the snapshot is of {root})")
    if "." not in path and d.get("slicing"):
        raise SnapshotError(f"Slicing is not allowed at the root of a profile ('{path}')")
    did = _normalise(out, element_id(d))
    pos = _find(out, did, type_snapshot)
    if pos is None and (d.get("sliceName") or _type_slice(out, did)):
        pos = _new_slice(out, did, type_snapshot)
    if pos is None:
        raise SnapshotError(f"No match for {did} in the base snapshot: check the path and the order")
    if _normalise_path(out, path) != out[pos]["path"]:
        raise SnapshotError(f"The path must be '{out[pos]['path']}' not '{path}' (the type list is not constrained)")
    _merge(out[pos], d)


def _valid_path(path: str, root: str) -> bool:
    parts = path.split(".")
    return parts[0] == root and all(_SEGMENT.fullmatch(p) for p in parts[1:])


def _normalise(out: list[Element], did: str) -> str:
    """Write ``valueQuantity`` as the type slice ``value[x]:valueQuantity`` (profiling.html#choice),
    when Quantity is one of ``value[x]``'s types."""
    ids = {e["id"]: e for e in out}
    parts = did.split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        seg, _, rest = parts[i].partition(":")
        choice = next(
            (
                e
                for eid, e in ids.items()
                if eid.startswith(prefix + ".")
                and eid.endswith("[x]")
                and eid.count(".") == i
                and seg.startswith(eid[len(prefix) + 1 : -3])
            ),
            None,
        )
        if f"{prefix}.{seg}" in ids or choice is None:
            continue
        name = choice["id"][len(prefix) + 1 : -3]
        if _type_named(choice, seg[len(name) :]) is not None:
            parts[i] = f"{name}[x]:{rest}" if rest else f"{name}[x]:{seg}"
    return ".".join(parts)


def _type_slice(out: list[Element], did: str) -> bool:
    """Is ``did`` a type slice of a choice element (``value[x]:valueQuantity``)?"""
    head, _, name = did.rpartition(":")
    base = head.rpartition(".")[2]
    choice = next((e for e in out if e["id"] == head), None) if head.endswith("[x]") else None
    return choice is not None and name.startswith(base[:-3]) and _type_named(choice, name[len(base) - 3 :]) is not None


def _type_named(choice: Element, suffix: str) -> Element | None:
    """The type of a choice element that ``valueQuantity``'s suffix (``Quantity``) names."""
    for t in seq(choice.get("type")):
        code = str(t.get("code", ""))
        if code[:1].upper() + code[1:] == suffix:
            return {"code": code}
    return None


def _normalise_path(out: list[Element], path: str) -> str:
    """A diff path with ``valueQuantity`` for ``value[x]`` renamed, when Quantity is one of its types."""
    paths = {e["path"]: e for e in out}
    parts = path.split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        if f"{prefix}.{parts[i]}" in paths:
            continue
        for p, e in paths.items():
            if p.startswith(prefix + ".") and p.endswith("[x]") and p.count(".") == i:
                name = p[len(prefix) + 1 : -3]
                suffix = parts[i][len(name) :]
                codes = {str(t.get("code", "")) for t in seq(e.get("type"))}
                if parts[i].startswith(name) and any(c[:1].upper() + c[1:] == suffix for c in codes):
                    parts[i] = name + "[x]"
                    break
    return ".".join(parts)


def _index(out: list[Element], eid: str) -> int | None:
    for i, e in enumerate(out):
        if e["id"] == eid:
            return i
    return None


def _find(out: list[Element], eid: str, type_snapshot: BaseLookup) -> int | None:
    pos = _index(out, eid)
    if pos is not None or "." not in eid:
        return pos
    parent_id = eid.rsplit(".", 1)[0]
    parent = _find(out, parent_id, type_snapshot)
    if parent is None or _has_children(out, parent_id):
        return None
    _unfold(out, parent, type_snapshot)
    return _index(out, eid)


def _has_children(out: list[Element], eid: str) -> bool:
    return any(e["id"].startswith(eid + ".") for e in out)


def _unfold(out: list[Element], pos: int, type_snapshot: BaseLookup) -> None:
    """Insert the children of ``out[pos]`` from its type's snapshot (or its content reference)."""
    el = out[pos]
    ref = el.get("contentReference")
    if isinstance(ref, str):  # the referenced element as the base definition has it, not as constrained here
        source = ref.lstrip("#")
        snap = type_snapshot(source.split(".", 1)[0]) or out
        children = [e for e in snap if e["path"].startswith(source + ".") and ":" not in element_id(e)]
        base_path = source
    else:
        types = seq(el.get("type"))
        if len(types) != 1:
            return
        t = types[0]
        snap = None
        for profile in seq(t.get("profile")):
            snap = type_snapshot(profile)
            if snap:
                break
        snap = snap or type_snapshot(str(t.get("code")))
        if not snap:
            return
        base_path = snap[0]["path"]
        children = snap[1:]
    new = []
    for c in children:
        n = copy.deepcopy(c)
        rest_path = n["path"][len(base_path) :]
        rest_id = element_id(c)[len(base_path) :]
        n["path"] = el["path"] + rest_path
        n["id"] = el["id"] + rest_id
        new.append(n)
    out[pos + 1 : pos + 1] = new


def _new_slice(out: list[Element], did: str, type_snapshot: BaseLookup) -> int | None:
    """Add the slice ``did`` (``A.b:name``): a copy of the sliced element and its children."""
    head, _, name = did.rpartition(":")
    if "." in name or not head:
        return None
    base_pos = _find(out, head, type_snapshot)
    if base_pos is None:
        return None
    end = base_pos + 1
    while end < len(out) and (out[end]["id"].startswith(head + ".") or out[end]["id"].startswith(head + ":")):
        end += 1
    sliced = out[base_pos]
    first = copy.deepcopy(sliced)
    first.pop("slicing", None)
    first["id"] = did
    first["sliceName"] = name
    block = [first]
    for c in out[base_pos + 1 : end]:
        if c["id"].startswith(head + "."):
            n = copy.deepcopy(c)
            n["id"] = did + c["id"][len(head) :]
            block.append(n)
    if head.endswith("[x]"):  # a type slice: valueQuantity is value[x] of type Quantity
        typed = _type_named(sliced, name[len(head.rpartition(".")[2]) - 3 :])
        if typed is not None:
            first["type"] = [typed]
            sliced.setdefault(
                "slicing", {"discriminator": [{"type": "type", "path": "$this"}], "ordered": False, "rules": "open"}
            )
    out[end:end] = block
    return end


def _merge(target: Element, d: Element) -> None:
    for key, value in d.items():
        if key in _DEFAULTS_ONLY:
            continue
        if key in _MERGED_LISTS:
            target[key] = _union(seq(target.get(key)), seq(value))
        elif key.startswith(("fixed", "pattern")):
            _merge_fixed(target, key, value)
        elif key in ("min", "max"):
            _check_cardinality(target, key, value)
            target[key] = value
        else:
            target[key] = copy.deepcopy(value)


def _union(base: list[Any], more: list[Any]) -> list[Any]:
    """Constraints (by key), mappings and condition ids: the base's, then the new ones."""
    keys = {c.get("key") for c in base if isinstance(c, dict) and "key" in c}
    out = list(base)
    for item in more:
        if item in out or (isinstance(item, dict) and "key" in item and item["key"] in keys):
            continue
        out.append(copy.deepcopy(item))
    return out


def _merge_fixed(target: Element, key: str, value: Any) -> None:
    for k in [k for k in target if k.startswith(("fixed", "pattern"))]:
        if k.startswith("fixed") and target[k] != value:
            raise SnapshotError(f"{target['id']}: the value {value!r} contradicts the base's fixed value {target[k]!r}")
        del target[k]
    target[key] = copy.deepcopy(value)


def _check_cardinality(target: Element, key: str, value: Any) -> None:
    lower = isinstance(value, int) and isinstance(target.get("min"), int) and value < target["min"]
    if key == "min" and lower and ":" not in target["id"]:
        raise SnapshotError(f"{target['id']}: min {value} is less than the base's min {target['min']}")
    bounded = (
        isinstance(value, str) and target.get("max") not in (None, "*") and value != "0" and ":" not in target["id"]
    )
    if key == "max" and bounded and (value == "*" or (value.isdigit() and int(value) > int(target["max"]))):
        raise SnapshotError(f"{target['id']}: max {value} is more than the base's max {target['max']}")
