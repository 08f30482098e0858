"""Shared pieces of the mappers (http://hl7.org/fhir/R4/datatypes.html#Identifier): ids, identifiers, errors.

Mapped resources get ids derived from their external identifiers, so a re-import writes the same
resource again (an update) instead of a duplicate, and two concurrent imports meet on one row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]

NPI = "http://hl7.org/fhir/sid/us-npi"
TZ_CODE = "http://hl7.org/fhir/StructureDefinition/tz-code"
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"


class MappingError(ValueError):
    """A payload that cannot be mapped; ``record`` names it (an external id, a row number)."""

    def __init__(self, record: str, message: str) -> None:
        super().__init__(f"{record}: {message}")
        self.record = record
        self.message = message


def stable_id(prefix: str, *parts: str) -> str:
    """A FHIR id ([A-Za-z0-9-.]{1,64}) that is always the same for the same external key."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"{prefix}-{digest}"


def identifier(system: str, value: str) -> Json:
    return {"system": system, "value": value}


def ref(res_type: str, res_id: str, display: str | None = None) -> Json:
    out: Json = {"reference": f"{res_type}/{res_id}"}
    if display:
        out["display"] = display
    return out


def text(value: Any) -> str | None:
    """A non-empty stripped string, or None."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def need_str(record: str, data: Json, key: str) -> str:
    value = text(data.get(key))
    if value is None:
        raise MappingError(record, f"'{key}' is missing or not a string")
    return value


def need_obj(record: str, data: Any, key: str) -> Json:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise MappingError(record, f"'{key}' is missing or not an object")
    return value


def number(record: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MappingError(record, f"{what} is not a number")
    return float(value)


def position(record: str, lat: Any, lng: Any) -> Json:
    """A Location.position; latitude/longitude must be numbers on the globe."""
    la, lo = number(record, lat, "latitude"), number(record, lng, "longitude")
    if not (-90 <= la <= 90 and -180 <= lo <= 180):
        raise MappingError(record, f"position {la},{lo} is not on the globe")
    return {"latitude": la, "longitude": lo}


def obj(value: Any) -> Json:
    """The value when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def pruned(resource: Json) -> Json:
    """``prune`` for a resource (a JSON object stays one)."""
    out: Json = prune(resource)
    return out


def prune(data: Any) -> Any:
    """Drop None, empty strings, empty lists and empty objects (FHIR forbids empty elements)."""
    if isinstance(data, dict):
        out = {k: prune(v) for k, v in data.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(data, list):
        items = [prune(v) for v in data]
        return [v for v in items if v not in (None, "", [], {})]
    return data


def codings(system: str, codes: Sequence[str], displays: Sequence[str] | None = None) -> list[Json]:
    """One CodeableConcept per code (with its display when given at the same position)."""
    out = []
    for i, code in enumerate(codes):
        coding: Json = {"system": system, "code": code}
        if displays is not None and i < len(displays) and text(displays[i]):
            coding["display"] = displays[i]
        out.append({"coding": [coding]})
    return out
