"""JSON Patch (RFC 6902) with JSON Pointers (RFC 6901), as FHIR R4 PATCH uses it (http://hl7.org/fhir/R4/http.html#patch).

``apply`` works on a deep copy and raises ``PatchError`` (a document that is not a patch) or
``PatchConflict`` (a patch that cannot apply to this resource: missing path, failed ``test``).
"""

from __future__ import annotations

import copy
from typing import Any

OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchError(ValueError):
    """The patch document is malformed."""


class PatchConflict(ValueError):
    """The patch is well-formed but cannot be applied to this document."""


def parse_pointer(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise PatchError(f"A JSON Pointer must be a string, not {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON Pointer '{pointer}' must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, pointer: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit() or (token.startswith("0") and token != "0"):
        raise PatchConflict(f"'{token}' in '{pointer}' is not an array index")
    idx = int(token)
    limit = len(container) if for_add else len(container) - 1
    if idx > limit:
        raise PatchConflict(f"Index {idx} in '{pointer}' is out of range (array length {len(container)})")
    return idx


def _parent(doc: Any, tokens: list[str], pointer: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchConflict(f"Path '{pointer}' does not exist: no '{token}'")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, pointer, for_add=False)]
        else:
            raise PatchConflict(f"Path '{pointer}' goes through a value that is not an object or array")
    return node


def get(doc: Any, pointer: str) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchConflict(f"Path '{pointer}' does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, pointer, for_add=False)]
    raise PatchConflict(f"Path '{pointer}' does not exist")


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, pointer, for_add=True), value)
    else:
        raise PatchConflict(f"Cannot add at '{pointer}': the parent is not an object or array")
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    tokens = parse_pointer(pointer)
    if not tokens:
        raise PatchConflict("Cannot remove the whole document")
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchConflict(f"Cannot remove '{pointer}': it does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, pointer, for_add=False))
    raise PatchConflict(f"Cannot remove '{pointer}': it does not exist")


def _field(op: dict[str, Any], name: str) -> Any:
    if name not in op:
        raise PatchError(f"Operation '{op.get('op')}' needs '{name}'")
    return op[name]


def apply(document: Any, patch: Any) -> Any:
    """Apply ``patch`` (a list of operations) to a copy of ``document`` and return the result."""
    if not isinstance(patch, list):
        raise PatchError("A JSON Patch document must be a JSON array of operations")
    doc = copy.deepcopy(document)
    for n, op in enumerate(patch):
        if not isinstance(op, dict) or op.get("op") not in OPS:
            raise PatchError(f"Operation {n} is not one of {', '.join(OPS)}")
        path = _field(op, "path")
        kind = op["op"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(_field(op, "value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            get(doc, path)
            value = copy.deepcopy(_field(op, "value"))
            doc = value if path == "" else _add(_remove(doc, path)[0], path, value)
        elif kind == "move":
            source = _field(op, "from")
            if path != source and path.startswith(source + "/"):
                raise PatchConflict(f"Cannot move '{source}' into its own child '{path}'")
            doc, value = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(get(doc, _field(op, "from"))))
        else:
            expected = _field(op, "value")
            actual = get(doc, path)
            if not _equal(actual, expected):
                raise PatchConflict(f"Test failed at '{path}': found {actual!r}, expected {expected!r}")
    return doc


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)
