"""Write hooks (DESIGN.md "Writes: validate → hooks → one transaction"): per-type checks and defaults.

A hook sees a resource about to be created or updated (after validation) and returns it, maybe
changed (e.g. a requested Subscription becomes active), or raises a ``FhirError`` (422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Json = dict[str, Any]
Hook = Callable[[Any, Json], Json]  # (server, resource) → resource
_hooks: dict[str, list[Hook]] = {}


def register(res_type: str, hook: Hook) -> None:
    found = _hooks.setdefault(res_type, [])
    if hook not in found:
        found.append(hook)


def before_write(server: Any, res_type: str, resource: Json) -> Json:
    for hook in _hooks.get(res_type, ()):
        resource = hook(server, resource)
    return resource
