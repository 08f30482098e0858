"""Reference resolution in transactions (http://hl7.org/fhir/R4/http.html#trules).

Every ``fullUrl`` of an entry that creates or updates a resource maps to its final ``Type/id``;
all matching links in the bundle's resources are replaced — ``Reference.reference``, elements of
type uri/url/canonical and ``href``/``src`` in the narrative. Conditional references
(``Patient?identifier=…``) are resolved by search and must match exactly one resource.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fhir_server.errors import NotFound, PreconditionFailed

Json = dict[str, Any]
CONDITIONAL = re.compile(r"^[A-Z][A-Za-z]+\?.+")


def rewrite(node: Any, mapping: dict[str, str], conditional: set[str] | None = None) -> Any:
    """Replace, in place, every string equal to a key of ``mapping``; narrative links too.

    With ``conditional``, also collect the ``reference`` values that are searches (one walk for both).
    """
    if type(node) is dict:
        for key, value in node.items():
            kind = type(value)
            if kind is str:
                if value in mapping:
                    node[key] = mapping[value]
                elif key == "reference" and conditional is not None and CONDITIONAL.match(value):
                    conditional.add(value)
                elif key == "div" and mapping:
                    node[key] = _rewrite_div(value, mapping)
            elif kind is dict or kind is list:
                rewrite(value, mapping, conditional)
    elif type(node) is list:
        for i, value in enumerate(node):
            kind = type(value)
            if kind is str:
                if value in mapping:
                    node[i] = mapping[value]
            elif kind is dict or kind is list:
                rewrite(value, mapping, conditional)
    return node


def _rewrite_div(div: str, mapping: dict[str, str]) -> str:
    if "urn:" not in div and "://" not in div:
        return div
    for old, new in mapping.items():
        if old in div:
            div = div.replace(f'"{old}"', f'"{new}"')
    return div


async def resolve_conditional(
    refs: set[str], find: Callable[[str, str], Awaitable[list[str]]]
) -> dict[str, str]:
    """Map each conditional reference to the one ``Type/id`` it matches."""
    out: dict[str, str] = {}
    for ref in sorted(refs):
        res_type, _, query = ref.partition("?")
        ids = await find(res_type, query)
        if not ids:
            raise NotFound(f"The conditional reference '{ref}' matches no resource")
        if len(ids) > 1:
            raise PreconditionFailed(f"The conditional reference '{ref}' matches more than one resource")
        out[ref] = f"{res_type}/{ids[0]}"
    return out
