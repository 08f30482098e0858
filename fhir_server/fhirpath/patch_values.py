"""FHIRPath Patch values (http://hl7.org/fhir/R4/fhirpatch.html#parameters): reading the operation
parts of the Parameters resource and building the values to insert, including "anonymous" complex
values given as nested parts, typed by the R4 model.
"""

from __future__ import annotations

from typing import Any

from fhir_server.fhirpath.navigation import primitive_holder
from fhir_server.model import model


class PatchError(ValueError):
    """A FHIRPath Patch operation cannot be applied."""


class PatchFormatError(PatchError):
    """The Parameters resource is not shaped like a FHIRPath Patch (a malformed request)."""


def _error(message: str) -> ValueError:
    return PatchError(message)


def operation_parts(param: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The parts of one ``operation`` parameter by name."""
    parts: dict[str, dict[str, Any]] = {}
    for part in _part_list(param, "an operation"):
        name = part.get("name")
        if not isinstance(name, str):
            raise _error("an operation part has no name")
        if name in parts:
            raise _error(f"the operation has several {name!r} parts")
        parts[name] = part
    return parts


def _part_list(holder: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """``holder.part``, checked to be a list of objects."""
    parts = holder.get("part", [])
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise PatchFormatError(f"the 'part' of {what} must be a list of parameter objects")
    return parts


def _value_key(part: dict[str, Any]) -> str | None:
    return next((k for k in part if k.startswith("value")), None)


def element_of(container_type: str, name: str, value_part: dict[str, Any] | None) -> tuple[str, str, bool]:
    """(JSON key, element type, is_array) of element ``name`` of ``container_type``."""
    info = model().type(primitive_holder(container_type))
    element = None if info is None else info.elements.get(name)
    if element is None:
        raise _error(f"{name!r} is not an element of {container_type or 'this element'}")
    if not element.choice:
        return name, element.types[0], element.is_array
    key = None if value_part is None else _value_key(value_part)
    if key is None:
        raise _error(f"{name!r} is a choice element: the value must say its type (value[x])")
    suffix = key[len("value"):]
    for t in element.types:
        if t[0].upper() + t[1:] == suffix:
            return name + suffix, t, element.is_array
    raise _error(f"{name}[x] cannot be a {suffix}")


def part_value(part: dict[str, Any], type_: str) -> Any:
    """The value a part carries: ``value[x]``, a ``resource``, or an anonymous type in ``part``s."""
    key = _value_key(part)
    if key is not None:
        return part[key]
    if "resource" in part:
        return part["resource"]
    if "part" in part:
        out: dict[str, Any] = {}
        for sub in _part_list(part, "a value"):
            name = sub.get("name")
            if not isinstance(name, str):
                raise _error("a value part has no name")
            sub_key, sub_type, is_array = element_of(type_, name, sub)
            value = part_value(sub, sub_type)
            if is_array:
                out.setdefault(sub_key, []).append(value)
            else:
                out[sub_key] = value
        return out
    raise _error("the operation has no value")


def prune(node: Any) -> bool:
    """Remove empty objects/arrays (recursively); True when ``node`` itself is empty."""
    if isinstance(node, dict):
        for key in [k for k, v in node.items() if isinstance(v, (dict, list)) and prune(v)]:
            del node[key]
        return not node
    if isinstance(node, list):
        for i in range(len(node) - 1, -1, -1):
            if isinstance(node[i], (dict, list)) and prune(node[i]):
                del node[i]
        return not node or all(x is None for x in node)
    return False
