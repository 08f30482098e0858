"""Conformance resources by canonical URL (http://hl7.org/fhir/R4/resource.html#canonical): the profile registry.

A :class:`Registry` answers StructureDefinitions, ValueSets and CodeSystems by URL: the R4 definitions
shipped with the server first, then the resources added to it (posted to the server, or supplied with
one validation). Compiled profiles are cached per registry and dropped whenever its content changes,
so a profile is compiled once and reused by every validation until a definition is replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fhir_server import definitions
from fhir_server.terminology import overlay

if TYPE_CHECKING:
    from conformance.validation.profile import Profile

Resource = dict[str, Any]
KINDS = frozenset({"StructureDefinition", "ValueSet", "CodeSystem"})
CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def strip_version(url: str) -> str:
    return url.split("|", 1)[0]


class Registry:
    """The StructureDefinitions and terminology a validation can use."""

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._extra: dict[str, Resource] = {}
        self._profiles: dict[str, Profile | None] = {}
        self._lock = threading.RLock()
        self.overlay = overlay.Overlay()
        self.replace(resources)

    def replace(self, resources: Iterable[Resource]) -> None:
        """Use exactly these added resources (the ones stored on the server, say)."""
        extra: dict[str, Resource] = {}
        for res in resources:
            url = res.get("url")
            if isinstance(url, str) and res.get("resourceType") in KINDS:
                extra[strip_version(url)] = res
        with self._lock:
            self._extra = extra
            self._profiles = {}
            self.overlay = overlay.Overlay(extra.values())

    def add(self, resources: Iterable[Resource]) -> None:
        self.replace([*self._extra.values(), *resources])

    def resource(self, url: str) -> Resource | None:
        """A conformance resource by canonical URL (``|version`` ignored)."""
        found = definitions.by_canonical(url)
        return found if found is not None else self._extra.get(strip_version(url))

    def structure_definition(self, url: str) -> Resource | None:
        res = self.resource(url)
        return res if res is not None and res.get("resourceType") == "StructureDefinition" else None

    def is_value_set(self, url: str) -> bool:
        res = self.resource(url)
        return res is not None and res.get("resourceType") == "ValueSet"

    def extra(self) -> list[Resource]:
        return list(self._extra.values())

    def profile(self, url: str, build: Callable[[Registry, str], Profile | None]) -> Profile | None:
        """The compiled profile for ``url`` (compiled once by ``build``; None when unknown or broken)."""
        key = strip_version(url)
        found = self._profiles.get(key, False)
        if found is not False:
            return found  # type: ignore[return-value]
        with self._lock:
            if key not in self._profiles:
                self._profiles[key] = None  # a profile that refers to itself sees "unknown", not a loop
                self._profiles[key] = build(self, key)
            return self._profiles[key]


def core_url(type_name: str) -> str:
    return CORE_PREFIX + type_name
