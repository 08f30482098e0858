"""FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): apply a Parameters resource to a resource.

``apply_patch(resource, parameters)`` returns the patched copy (the input is not modified) and
raises :class:`PatchError` (a ``ValueError`` with a clear message) when an operation is invalid:
unknown type, missing parts, a path that selects nothing (add, insert, replace, move) or several
elements, an index out of range. Operations apply in order: add, insert, delete, replace, move.
Elements left empty by a delete are removed, as FHIR has no empty elements.
"""

from __future__ import annotations

import copy
from typing import Any

from fhir_server.fhirpath import ast
from fhir_server.fhirpath.errors import FHIRPathError, FHIRPathSyntaxError
from fhir_server.fhirpath.locate import Loc, Locator
from fhir_server.fhirpath.parser import parse
from fhir_server.fhirpath.patch_values import (
    PatchError,
    PatchFormatError,
    element_of,
    operation_parts,
    part_value,
    prune,
)

__all__ = ["PatchError", "PatchFormatError", "apply_patch"]

MAX_PATH = 10_000
"""The longest FHIRPath accepted as an operation's path, in characters."""

# What evaluating a client's path may raise besides FHIRPathError (the engine maps most of these
# itself; the Locator runs compiled steps directly, so they are caught here too).
_ENGINE_ERRORS = (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError)


def apply_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The resource with every operation of the FHIRPath Patch ``parameters`` applied.

    Raises :class:`PatchFormatError` when ``parameters`` is not shaped like a FHIRPath Patch (all
    operations are checked before any is applied) and :class:`PatchError` when an operation cannot
    be applied (its path is invalid or fails to evaluate, selects nothing or too much...).
    """
    operations = _operations(parameters)
    result = copy.deepcopy(resource)
    for n, parts in enumerate(operations):
        try:
            _apply(result, parts)
        except PatchError:
            raise
        except FHIRPathError as e:
            raise PatchError(f"operation {n + 1}: invalid path: {e}") from e
        except RecursionError as e:
            raise PatchError(f"operation {n + 1}: the path is too deeply nested") from e
        except _ENGINE_ERRORS as e:
            raise PatchError(f"operation {n + 1}: the path cannot be evaluated ({type(e).__name__})") from e
    return result


def _operations(parameters: dict[str, Any]) -> list[dict[str, dict[str, Any]]]:
    """The parts of every operation by name; PatchFormatError names what is malformed."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise PatchFormatError("a FHIRPath Patch must be a Parameters resource")
    params = parameters.get("parameter", [])
    if not isinstance(params, list):
        raise PatchFormatError("Parameters.parameter must be a list")
    out = []
    for n, param in enumerate(params):
        if not isinstance(param, dict):
            raise PatchFormatError(f"parameter {n + 1} must be an object")
        if param.get("name") != "operation":
            raise PatchFormatError(f"parameter {n + 1}: expected 'operation', got {param.get('name')!r}")
        try:
            parts = operation_parts(param)
        except PatchFormatError:
            raise
        except PatchError as e:
            raise PatchFormatError(f"parameter {n + 1}: {e}") from e
        for name in ("type", "path"):
            value = _first_value(parts.get(name) or {})
            if not isinstance(value, str) or not value:
                raise PatchFormatError(f"parameter {n + 1}: the operation has no {name!r} (a non-empty string)")
        path = _first_value(parts["path"])
        if len(path) > MAX_PATH:
            raise PatchFormatError(f"parameter {n + 1}: the path is longer than {MAX_PATH} characters")
        try:
            parse(path)  # a path that is not FHIRPath makes the document malformed (400)
        except FHIRPathSyntaxError as e:
            raise PatchFormatError(f"operation {n + 1}: invalid path: {e}") from e
        except RecursionError as e:
            raise PatchFormatError(f"operation {n + 1}: invalid path: too deeply nested") from e
        out.append(parts)
    return out


def _first_value(part: dict[str, Any]) -> Any:
    return next((v for k, v in part.items() if k.startswith("value")), None)


def _apply(resource: dict[str, Any], parts: dict[str, dict[str, Any]]) -> None:
    op = _string(parts, "type")
    path = _string(parts, "path")
    handler = _OPERATIONS.get(op)
    if handler is None:
        raise PatchError(f"unknown operation type {op!r}")
    handler(resource, path, parts)


def _string(parts: dict[str, dict[str, Any]], name: str) -> str:
    part = parts.get(name)
    value = None if part is None else _first_value(part)
    if not isinstance(value, str) or not value:
        raise PatchError(f"the operation has no {name!r}")
    return value


def _integer(parts: dict[str, dict[str, Any]], name: str) -> int:
    part = parts.get(name) or {}
    value = part.get("valueInteger")
    if not isinstance(value, int) or isinstance(value, bool):
        raise PatchError(f"the operation needs an integer {name!r}")
    return value


def _single(resource: dict[str, Any], path: str, action: str) -> Loc | None:
    locs = Locator(resource, path).locate(parse(path))
    if len(locs) > 1:
        raise PatchError(f"{path} selects {len(locs)} elements when {action}: it must select one")
    return locs[0] if locs else None


def _list_target(resource: dict[str, Any], path: str, action: str) -> tuple[dict[str, Any], str, str]:
    """The object holding the list at ``path`` (which must end with a member name), the key, its type."""
    node = parse(path)
    if not isinstance(node, ast.Invoke) or not isinstance(node.member, ast.Identifier):
        raise PatchError(f"{path} must end with an element name when {action}")
    locs = Locator(resource, path).locate(node.target)
    if len(locs) != 1 or not isinstance(locs[0].item.value, dict):
        raise PatchError(f"No content found at {path} when {action}")
    key, type_, is_array = element_of(locs[0].item.type, node.member.name, None)
    if not is_array:
        raise PatchError(f"{path} is not a list")
    return locs[0].item.value, key, type_


def _add(resource: dict[str, Any], path: str, parts: dict[str, dict[str, Any]]) -> None:
    name = _string(parts, "name")
    loc = _single(resource, path, "adding")
    if loc is None or not isinstance(loc.item.value, dict):
        raise PatchError(f"No content found at {path} when adding")
    container = loc.item.value
    value_part = _required(parts, "value")
    key, type_, is_array = element_of(loc.item.type, name, value_part)
    value = part_value(value_part, type_)
    if is_array:
        container.setdefault(key, []).append(value)
        _align(container, key, len(container[key]) - 1, "insert")
    elif key in container:
        raise PatchError(f"{path}.{name} already has a value: use replace")
    else:
        container[key] = value


def _required(parts: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    part = parts.get(name)
    if part is None:
        raise PatchError(f"the operation has no {name!r}")
    return part


def _insert(resource: dict[str, Any], path: str, parts: dict[str, dict[str, Any]]) -> None:
    holder, key, type_ = _list_target(resource, path, "inserting")
    index = _integer(parts, "index")
    items = holder.setdefault(key, [])
    if not 0 <= index <= len(items):
        raise PatchError(f"index {index} is out of range for {path} ({len(items)} items)")
    items.insert(index, part_value(_required(parts, "value"), type_))
    _align(holder, key, index, "insert")


def _delete(resource: dict[str, Any], path: str, parts: dict[str, dict[str, Any]]) -> None:
    loc = _single(resource, path, "deleting")
    if loc is None:
        return  # nothing there: deleting is idempotent
    if loc.holder is None:
        raise PatchError("cannot delete the resource itself")
    for key in (loc.key, "_" + loc.key):
        if key not in loc.holder:
            continue
        if loc.index is None:
            del loc.holder[key]
        elif loc.index < len(loc.holder[key]):
            del loc.holder[key][loc.index]
    prune(resource)


def _replace(resource: dict[str, Any], path: str, parts: dict[str, dict[str, Any]]) -> None:
    loc = _single(resource, path, "replacing")
    if loc is None or loc.holder is None:
        raise PatchError(f"No content found at {path} when replacing")
    value_part = _required(parts, "value")
    value = part_value(value_part, loc.item.type)
    key = _choice_key(loc, value_part)
    if loc.index is not None:
        loc.holder[loc.key][loc.index] = value
    elif key != loc.key:  # value[x] changes type: valueString → valueInteger
        loc.holder.pop(loc.key, None)
        loc.holder.pop("_" + loc.key, None)
        loc.holder[key] = value
    else:
        loc.holder[key] = value  # the primitive's id/extension (``_key``) stay


def _move(resource: dict[str, Any], path: str, parts: dict[str, dict[str, Any]]) -> None:
    holder, key, _ = _list_target(resource, path, "moving")
    source, destination = _integer(parts, "source"), _integer(parts, "destination")
    items = holder.get(key, [])
    if not (0 <= source < len(items) and 0 <= destination < len(items)):
        raise PatchError(f"source {source} / destination {destination} out of range for {path}")
    items.insert(destination, items.pop(source))
    _align(holder, key, source, "move", destination)


def _choice_key(loc: Loc, value_part: dict[str, Any]) -> str:
    """The JSON key for a new value of ``loc``: for a choice element, from the part's ``value[x]``."""
    if loc.key == loc.name:
        return loc.key
    value_key = next((k for k in value_part if k.startswith("value")), None)
    return loc.key if value_key is None else loc.name + value_key[len("value"):]


def _align(holder: dict[str, Any], key: str, index: int, action: str, destination: int = 0) -> None:
    """Keep a primitive list's ``_key`` (id/extension) list aligned after an insert or a move."""
    ext = holder.get("_" + key)
    if not isinstance(ext, list):
        return
    if action == "insert":
        ext.insert(index, None)
    elif index < len(ext):
        ext.insert(destination, ext.pop(index))


_OPERATIONS = {"add": _add, "insert": _insert, "delete": _delete, "replace": _replace, "move": _move}
