"""The special ``near`` parameter of Location (http://hl7.org/fhir/R4/location.html#positional).

``near=latitude|longitude|distance|units`` finds Locations within a true great-circle radius
(haversine on a sphere of radius 6371.0088 km), not a bounding box; the box only narrows the rows
the distance is computed for. Units: km (default), m, mi / [mi_i]. The distance of each match is
reported in the result's ``search.extension`` (R4 location-distance).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhirpath import TypedValue
from fhir_server.search.normalize import decimal
from fhir_server.search.sql import Cond

TABLE = "idx_geo"
COLUMNS = ("pid", "lat", "lon")
MODIFIERS = ("missing",)
EARTH_KM = 6371.0088
UNITS_KM = {"km": 1.0, "m": 0.001, "mi": 1.609344, "[mi_i]": 1.609344, "[km]": 1.0}
DEFAULT_KM = 10.0
DISTANCE_EXT = "http://hl7.org/fhir/StructureDefinition/location-distance"


def extract(items: list[TypedValue], pid: int) -> Iterator[tuple[Any, ...]]:
    for item in items:
        v = item.value
        if isinstance(v, dict):
            lat, lon = decimal(v.get("latitude")), decimal(v.get("longitude"))
            if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
                yield (pid, float(lat), float(lon))


def parse_near(value: str) -> tuple[float, float, float]:
    """(latitude, longitude, radius in km) of a ``near`` value."""
    parts = value.split("|")
    if len(parts) < 2 or len(parts) > 4:
        raise BadRequest(f"near must be latitude|longitude[|distance[|units]], not '{value}'")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_KM
    except ValueError as exc:
        raise BadRequest(f"near: '{value}' has a value that is not a number") from exc
    unit = parts[3] if len(parts) > 3 and parts[3] else "km"
    if unit not in UNITS_KM:
        raise BadRequest(f"near: unknown distance unit '{unit}' (use km, m or mi)")
    finite = all(math.isfinite(x) for x in (lat, lon, distance))
    if not finite or not (-90 <= lat <= 90 and -180 <= lon <= 180) or distance < 0:
        raise BadRequest(f"near: '{value}' is out of range")
    return lat, lon, distance * UNITS_KM[unit]


def distance_sql(lat: float, lon: float) -> str:
    """Great-circle distance in km from (lat, lon) to the row's position (floats inlined: no arguments)."""
    la, lo = repr(float(lat)), repr(float(lon))
    return (
        f"(2 * {EARTH_KM} * asin(least(1, sqrt(power(sin(radians(lat - {la}) / 2), 2) + "
        f"cos(radians({la})) * cos(radians(lat)) * power(sin(radians(lon - {lo}) / 2), 2)))))"
    )


def compile(pid: int, value: str, modifier: str | None, name: str = "near") -> Cond:
    lat, lon, km = parse_near(value)
    dlat = math.degrees(km / EARTH_KM)
    coslat = math.cos(math.radians(lat))
    dlon = 180.0 if coslat < 1e-9 else min(180.0, math.degrees(km / (EARTH_KM * coslat)))
    box = "lat BETWEEN %s AND %s"
    args: list[Any] = [lat - dlat, lat + dlat]
    if dlon < 180.0 and lon - dlon >= -180 and lon + dlon <= 180:
        box += " AND lon BETWEEN %s AND %s"
        args += [lon - dlon, lon + dlon]
    return Cond(f"pid = %s AND {box} AND {distance_sql(lat, lon)} <= %s", [pid, *args, km])
