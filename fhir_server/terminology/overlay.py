"""Terminology resources beyond the R4 definitions (http://hl7.org/fhir/R4/terminology-service.html):
the ValueSets and CodeSystems posted to the server, or supplied with one validation.

An :class:`Overlay` maps canonical URLs to resources. The process-wide overlay (:func:`set_global`)
holds what the server stores; :func:`use` puts a private one in force for the current thread or
task only (a ``ContextVar``), so that validating with supplied resources never leaks into what the
server answers. Each overlay has a unique ``key``: the caches of expansions and code system indexes
are keyed by it, so replacing an overlay never serves a stale expansion. The R4 definitions always
win over an overlay for the same URL (they are fixed by the specification).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from fhir_server import definitions

Resource = dict[str, Any]
_keys = itertools.count(1)


class Overlay:
    """Conformance resources by canonical URL (``|version`` ignored), with a unique cache key."""

    __slots__ = ("key", "resources")

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self.key = next(_keys)
        self.resources: dict[str, Resource] = {}
        for res in resources:
            url = res.get("url")
            if isinstance(url, str) and res.get("resourceType") in ("ValueSet", "CodeSystem"):
                self.resources[url.split("|", 1)[0]] = res


EMPTY = Overlay()
_global: list[Overlay] = [EMPTY]
_local: ContextVar[Overlay | None] = ContextVar("terminology_overlay", default=None)


def set_global(overlay: Overlay) -> None:
    """Replace the process-wide overlay (the server's stored ValueSets and CodeSystems)."""
    _global[0] = overlay


def current() -> Overlay:
    """The overlay in force here: a private one from :func:`use`, else the process-wide one."""
    return _local.get() or _global[0]


@contextmanager
def use(overlay: Overlay) -> Iterator[Overlay]:
    """Put ``overlay`` in force for the current context only (instead of the process-wide one)."""
    token = _local.set(overlay)
    try:
        yield overlay
    finally:
        _local.reset(token)


def find(url: str, resource_type: str) -> Resource | None:
    """The ValueSet or CodeSystem for a canonical URL: the R4 definitions first, then the overlay."""
    res = definitions.by_canonical(url)
    if res is not None and res.get("resourceType") == resource_type:
        return res
    res = current().resources.get(url.split("|", 1)[0])
    return res if res is not None and res.get("resourceType") == resource_type else None
