"""Google Places (legacy and New) and Geocoding responses (../shared/apis/google-maps.md) → Location, Organization.

Pure functions. A place becomes an Organization (who) and a Location (where: name, address,
``position``, type, hours) managed by it; both keep the place id as an identifier and get ids
derived from it, so importing the same place again updates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mappers.common import (
    Json,
    MappingError,
    identifier,
    need_str,
    obj,
    position,
    prune,
    pruned,
    ref,
    stable_id,
    text,
)

PLACE_ID = "https://places.googleapis.com/place-id"
PLACE_TYPE = "https://developers.google.com/maps/documentation/places/web-service/place-types"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
_ROLE = {"hospital": ("HOSP", "Hospital"), "pharmacy": ("PHARM", "Pharmacy"), "drugstore": ("PHARM", "Pharmacy"),
         "doctor": ("OF", "Outpatient facility"), "medical_clinic": ("OF", "Outpatient facility"),
         "medical_lab": ("MBL", "medical laboratory")}
_STATUS = {"OPERATIONAL": "active", "CLOSED_TEMPORARILY": "suspended", "CLOSED_PERMANENTLY": "inactive"}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_GENERIC = {"point_of_interest", "establishment", "health"}


@dataclass(slots=True)
class Place:
    """The fields we map, whichever API the place came from."""

    place_id: str
    name: str
    lat: Any
    lng: Any
    types: list[str]
    formatted_address: str | None = None
    components: list[tuple[str, str, list[str]]] | None = None  # (long, short, types)
    phone: str | None = None
    website: str | None = None
    maps_url: str | None = None
    business_status: str | None = None
    periods: list[tuple[int, str, int | None, str | None]] | None = None  # (day, "HH:MM:SS", day, time)


def _components(raw: Any, long_key: str, short_key: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for c in raw or []:
        if isinstance(c, dict) and text(c.get(long_key)):
            out.append((str(c[long_key]), str(c.get(short_key) or c[long_key]), list(c.get("types") or [])))
    return out


def _hhmm(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 4 and value.isdigit():
        return f"{value[:2]}:{value[2:]}:00"
    return None


def legacy_place(result: Json) -> Place:
    """A legacy Nearby/Text Search result or a Place Details ``result``."""
    pid = need_str("place", result, "place_id")
    geometry = obj(result.get("geometry"))
    loc = obj(geometry.get("location"))
    periods = []
    hours = obj(result.get("opening_hours"))
    for p in hours.get("periods") or []:
        o, c = (p.get("open") or {}), (p.get("close") or {})
        if isinstance(o.get("day"), int) and _hhmm(o.get("time")):
            periods.append((o["day"], _hhmm(o["time"]) or "", c.get("day"), _hhmm(c.get("time"))))
    return Place(
        place_id=pid, name=text(result.get("name")) or pid, lat=loc.get("lat"), lng=loc.get("lng"),
        types=[t for t in result.get("types") or [] if isinstance(t, str)],
        formatted_address=text(result.get("formatted_address")) or text(result.get("vicinity")),
        components=_components(result.get("address_components"), "long_name", "short_name"),
        phone=text(result.get("international_phone_number")) or text(result.get("formatted_phone_number")),
        website=text(result.get("website")), maps_url=text(result.get("url")),
        business_status=text(result.get("business_status")), periods=periods or None,
    )


def new_place(place: Json) -> Place:
    """A Place of the Places API (New)."""
    pid = need_str("place", place, "id")
    loc = obj(place.get("location"))
    display = obj(place.get("displayName"))
    types = [t for t in place.get("types") or [] if isinstance(t, str)]
    primary = text(place.get("primaryType"))
    if primary:
        types = [primary] + [t for t in types if t != primary]
    periods = []
    hours = obj(place.get("regularOpeningHours"))
    for p in hours.get("periods") or []:
        o, c = (p.get("open") or {}), p.get("close")
        if not isinstance(o.get("day"), int):
            continue
        open_t = f"{int(o.get('hour', 0)):02d}:{int(o.get('minute', 0)):02d}:00"
        close = (c["day"], f"{int(c.get('hour', 0)):02d}:{int(c.get('minute', 0)):02d}:00") if c else (None, None)
        periods.append((o["day"], open_t, close[0], close[1]))
    return Place(
        place_id=pid, name=text(display.get("text")) or pid, lat=loc.get("latitude"), lng=loc.get("longitude"),
        types=types, formatted_address=text(place.get("formattedAddress")),
        components=_components(place.get("addressComponents"), "longText", "shortText"),
        phone=text(place.get("internationalPhoneNumber")) or text(place.get("nationalPhoneNumber")),
        website=text(place.get("websiteUri")), maps_url=text(place.get("googleMapsUri")),
        business_status=text(place.get("businessStatus")), periods=periods or None,
    )


def address(formatted: str | None, components: list[tuple[str, str, list[str]]] | None) -> Json:
    """An Address from address components (street number + route, locality, state, postal code, country)."""
    def part(kind: str, short: bool = False) -> str | None:
        for long_name, short_name, types in components or []:
            if kind in types:
                return short_name if short else long_name
        return None

    street = " ".join(p for p in (part("street_number"), part("route")) if p)
    return pruned({"use": "work", "type": "physical", "text": formatted, "line": [street] if street else [],
                  "city": part("locality") or part("postal_town") or part("sublocality"),
                  "district": part("administrative_area_level_2"),
                  "state": part("administrative_area_level_1", short=True),
                  "postalCode": part("postal_code"), "country": part("country", short=True)})


def _hours(periods: list[tuple[int, str, int | None, str | None]] | None) -> list[Json]:
    if not periods:
        return []
    if len(periods) == 1 and periods[0][2] is None and periods[0][1] == "00:00:00":
        return [{"daysOfWeek": list(_DAYS), "allDay": True}]  # open 24/7
    grouped: dict[tuple[str, str], list[str]] = {}
    for day, opens, close_day, closes in periods:
        if close_day == day and closes and 0 <= day < 7:  # spans past midnight: not expressible, left out
            grouped.setdefault((opens, closes), []).append(_DAYS[day])
    return [{"daysOfWeek": days, "openingTime": o, "closingTime": c} for (o, c), days in grouped.items()]


def _types(types: list[str]) -> list[Json]:
    specific = [t for t in types if t not in _GENERIC] or types
    out: list[Json] = []
    for t in specific[:1]:
        coding = [{"system": PLACE_TYPE, "code": t}]
        if t in _ROLE:
            coding.insert(0, {"system": ROLE_CODE, "code": _ROLE[t][0], "display": _ROLE[t][1]})
        out.append({"coding": coding, "text": t.replace("_", " ")})
    return out


def resources(place: Place) -> list[Json]:
    """A place → [Organization, Location]."""
    pid = place.place_id
    telecom: list[Json] = []
    if place.phone:
        telecom.append({"system": "phone", "value": place.phone, "use": "work"})
    if place.website:
        telecom.append({"system": "url", "value": place.website})
    addr = address(place.formatted_address, place.components)
    org = prune({
        "resourceType": "Organization",
        "id": stable_id("gplace-org", pid),
        "identifier": [identifier(PLACE_ID, pid)],
        "active": place.business_status != "CLOSED_PERMANENTLY",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov",
                              "display": "Healthcare Provider"}]}],
        "name": place.name,
        "telecom": telecom,
        "address": [addr],
    })
    loc = prune({
        "resourceType": "Location",
        "id": stable_id("gplace-lo", pid),
        "identifier": [identifier(PLACE_ID, pid)],
        "status": _STATUS.get(place.business_status or "", "active"),
        "name": place.name,
        "mode": "instance",
        "type": _types(place.types),
        "telecom": telecom + ([{"system": "url", "value": place.maps_url}] if place.maps_url else []),
        "address": addr,
        "position": position(pid, place.lat, place.lng),
        "managingOrganization": ref("Organization", org["id"], place.name),
        "hoursOfOperation": _hours(place.periods),
    })
    return [org, loc]


def places(payload: Any, api: str) -> tuple[list[Place], list[MappingError]]:
    """Places of a search response (``api`` = legacy | new); bad entries are reported, the rest kept."""
    if not isinstance(payload, dict):
        raise MappingError("places", "the response is not a JSON object")
    parse: Callable[[Json], Place] = legacy_place if api == "legacy" else new_place
    if api == "legacy":
        status = payload.get("status")
        if status == "ZERO_RESULTS":
            return [], []
        if status != "OK":
            raise MappingError("places", f"status {status}: {payload.get('error_message') or 'no results'}")
        raw = payload.get("results") or []
    else:
        raw = payload.get("places") or []  # {} means no results
    out: list[Place] = []
    errors: list[MappingError] = []
    for item in raw:
        try:
            out.append(parse(obj(item)))
        except MappingError as exc:
            errors.append(exc)
    return out, errors


@dataclass(slots=True)
class GeocodeHit:
    lat: float
    lng: float
    formatted_address: str | None
    place_id: str | None
    location_type: str | None
    partial: bool


def geocode(payload: Any) -> GeocodeHit | None:
    """The first result of a Geocoding response; None for ZERO_RESULTS; MappingError for failures."""
    if not isinstance(payload, dict):
        raise MappingError("geocode", "the response is not a JSON object")
    status = payload.get("status")
    if status == "ZERO_RESULTS":
        return None
    if status != "OK":
        raise MappingError("geocode", f"status {status}: {payload.get('error_message') or 'failed'}")
    results = payload.get("results")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        return None
    first = results[0]
    geometry = obj(first.get("geometry"))
    loc = obj(geometry.get("location"))
    pos = position("geocode", loc.get("lat"), loc.get("lng"))
    return GeocodeHit(pos["latitude"], pos["longitude"], text(first.get("formatted_address")),
                      text(first.get("place_id")), text(geometry.get("location_type")),
                      bool(first.get("partial_match")))


def address_line(addr: Json) -> str | None:
    """A FHIR Address as one line for geocoding (its text, else lines, city, state, postal code, country)."""
    if text(addr.get("text")):
        return str(addr["text"]).strip()
    parts = [str(x) for x in addr.get("line") or [] if text(x)]
    parts += [str(addr[k]) for k in ("city", "state", "postalCode", "country") if text(addr.get(k))]
    return ", ".join(parts) or None
