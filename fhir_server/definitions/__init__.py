"""FHIR R4 4.0.1 definitions (http://hl7.org/fhir/R4/downloads.html), shipped as gzip package data.

The Bundles are HL7's own (CC0), packed by ``tools/pack_definitions.py``. Each is read once, lazily.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from typing import Any

import orjson

Resource = dict[str, Any]

BUNDLE_NAMES = (
    "profiles-resources",
    "profiles-types",
    "profiles-others",
    "extension-definitions",
    "search-parameters",
    "valuesets",
    "v3-codesystems",
    "v2-tables",
    "conceptmaps",
)


@cache
def bundle(name: str) -> list[Resource]:
    """The resources of one packed definition Bundle, in file order."""
    if name not in BUNDLE_NAMES:
        raise KeyError(name)
    raw = resources.files(__package__).joinpath("data", name + ".json.gz").read_bytes()
    data = orjson.loads(gzip.decompress(raw))
    return [e["resource"] for e in data.get("entry", [])]


@cache
def structure_definitions() -> dict[str, Resource]:
    """Core StructureDefinitions (types and resources) by id (= type name)."""
    out: dict[str, Resource] = {}
    for name in ("profiles-types", "profiles-resources"):
        for res in bundle(name):
            if res["resourceType"] == "StructureDefinition":
                out[res["id"]] = res
    return out


@cache
def resource_types() -> frozenset[str]:
    """The 146 concrete R4 resource types."""
    return frozenset(
        sd["type"]
        for sd in structure_definitions().values()
        if sd["kind"] == "resource" and not sd.get("abstract") and sd.get("derivation") == "specialization"
    )


@cache
def search_parameters() -> list[Resource]:
    """The 1,375 official R4 SearchParameters."""
    return bundle("search-parameters")


@cache
def canonical_index() -> dict[str, Resource]:
    """Every conformance resource with a canonical ``url`` (value sets, code systems, profiles, ...)."""
    out: dict[str, Resource] = {}
    for name in BUNDLE_NAMES:
        for res in bundle(name):
            url = res.get("url")
            if isinstance(url, str):
                out.setdefault(url, res)
    return out


def by_canonical(url: str) -> Resource | None:
    """Look up a conformance resource by canonical URL, ignoring a ``|version`` suffix."""
    return canonical_index().get(url.split("|", 1)[0])


@cache
def compartment_definitions() -> dict[str, Resource]:
    """The 5 R4 CompartmentDefinitions by code (Patient, Encounter, RelatedPerson, Practitioner, Device)."""
    return {
        res["code"]: res
        for res in bundle("profiles-resources")
        if res["resourceType"] == "CompartmentDefinition"
    }


@cache
def operation_definitions() -> dict[str, Resource]:
    """The 46 R4 OperationDefinitions by id."""
    return {
        res["id"]: res
        for res in bundle("profiles-resources")
        if res["resourceType"] == "OperationDefinition"
    }
