"""``_summary`` and ``_elements`` (http://hl7.org/fhir/R4/search.html#summary, #elements).

Both keep ``resourceType``, ``id`` and ``meta`` and tag the result SUBSETTED, as R4 asks.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.model import model

Json = dict[str, Any]
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
SUMMARY_VALUES = ("true", "false", "text", "data", "count")
ALWAYS = ("resourceType", "id", "meta")


def _element_name(res_type: str, prop: str) -> tuple[str, bool, bool] | None:
    """(element name, in summary, mandatory) of a JSON property of a resource."""
    info = model().type(res_type)
    if info is None:
        return None
    name = prop[1:] if prop.startswith("_") else prop
    found = info.prop(name)
    if found is None:
        return None
    element = found[0]
    return element.name, element.summary, element.min > 0


def _tagged(out: Json) -> Json:
    meta = dict(out.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("code") == "SUBSETTED" and t.get("system") == SUBSETTED["system"] for t in tags):
        tags.append(dict(SUBSETTED))
    meta["tag"] = tags
    out["meta"] = meta
    return out


def summarize(resource: Json, mode: str) -> Json:
    """Apply ``_summary=mode`` (true | text | data | false) to one resource."""
    if mode == "false":
        return resource
    res_type = resource.get("resourceType", "")
    out: Json = {}
    for key, value in resource.items():
        if key in ALWAYS:
            out[key] = value
            continue
        info = _element_name(res_type, key)
        if mode == "data":
            keep = key != "text"
        elif mode == "text":
            keep = key == "text" or (info is not None and info[2])
        else:  # true
            keep = info is not None and info[1]
        if keep:
            out[key] = value
    return _tagged(out)


def elements(resource: Json, names: list[str]) -> Json:
    """Apply ``_elements=names`` to one resource (top-level elements; mandatory ones are kept too)."""
    res_type = resource.get("resourceType", "")
    wanted = {n.split(".")[-1] if n.startswith(res_type + ".") else n for n in names}
    out: Json = {}
    for key, value in resource.items():
        info = _element_name(res_type, key)
        if key in ALWAYS or (info is not None and (info[0] in wanted or info[2])):
            out[key] = value
    return _tagged(out)


def parse_elements(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise BadRequest("_elements needs at least one element name")
    return names


def check_summary(value: str) -> str:
    if value not in SUMMARY_VALUES:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY_VALUES)}, not '{value}'")
    return value
