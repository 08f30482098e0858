"""ZocDoc partner API directory and availability (../shared/apis/zocdoc.md "Provider / location shapes",
"Availability") → Practitioner, PractitionerRole, Location, Organization, Schedule, Slot.

Pure functions: a payload in, FHIR resources out (ids derived from the ZocDoc ids, which the
identifiers keep), or a ``MappingError`` naming the record. Booking and webhook payloads are in
``mappers.zocdoc_booking``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mappers.common import (
    NPI,
    TZ_CODE,
    Json,
    MappingError,
    codings,
    identifier,
    need_obj,
    need_str,
    obj,
    position,
    prune,
    pruned,
    ref,
    stable_id,
    text,
)

BASE = "https://api-developer.zocdoc.com/ids/"
PROVIDER = BASE + "provider"
LOCATION = BASE + "location"
PROVIDER_LOCATION = BASE + "provider-location"
PRACTICE = BASE + "practice"
SPECIALTY = BASE + "specialty"
VISIT_REASON = BASE + "visit-reason"
TIMESLOT = BASE + "timeslot"
APPOINTMENT = BASE + "appointment"
DEFAULT_SLOT_MINUTES = 30  # availability gives start times only; a slot lasts this long unless configured

_GENDER = {"female": "female", "male": "male", "non-binary": "other", "nonbinary": "other"}
_LANG = {"english": "en", "spanish": "es", "portuguese": "pt", "french": "fr", "chinese": "zh", "mandarin": "zh",
         "cantonese": "zh", "russian": "ru", "arabic": "ar", "hindi": "hi", "korean": "ko", "german": "de",
         "italian": "it", "japanese": "ja", "polish": "pl", "vietnamese": "vi", "tagalog": "tl"}


def split_provider_location(plid: str) -> tuple[str, str]:
    """``"pr_x|lo_y"`` → (provider id, location id)."""
    provider, sep, location = plid.partition("|")
    if not sep or not provider or not location:
        raise MappingError(plid, "a provider-location id is '<provider_id>|<location_id>'")
    return provider, location


def practitioner_id(provider_id: str) -> str:
    return stable_id("zocdoc-pr", provider_id)


def location_id(location_id: str) -> str:
    return stable_id("zocdoc-lo", location_id)


def organization_id(practice_id: str) -> str:
    return stable_id("zocdoc-pt", practice_id)


def role_id(plid: str) -> str:
    return stable_id("zocdoc-role", plid)


def schedule_id(plid: str) -> str:
    return stable_id("zocdoc-sch", plid)


def slot_id(plid: str, start: str) -> str:
    return stable_id("zocdoc-slot", plid, start)


def practitioner(provider: Json) -> Json:
    """BaseProvider → Practitioner."""
    pid = need_str("provider", provider, "provider_id")
    first, last = text(provider.get("first_name")), text(provider.get("last_name"))
    if last is None and text(provider.get("full_name")) is None:
        raise MappingError(pid, "the provider has neither last_name nor full_name")
    photo = text(provider.get("provider_photo_url"))
    if photo and photo.startswith("//"):
        photo = "https:" + photo
    languages = [lang for lang in provider.get("languages") or [] if text(lang)]
    creds = obj(provider.get("credentials"))
    certifications = [c for c in creds.get("certifications") or [] if text(c)]
    gender = _GENDER.get(str(provider.get("gender_identity") or "").strip().lower())
    return pruned({
        "resourceType": "Practitioner",
        "id": practitioner_id(pid),
        "identifier": [identifier(PROVIDER, pid)]
        + ([identifier(NPI, str(provider["npi"]))] if text(provider.get("npi")) else []),
        "active": True,
        "name": [{"use": "official", "text": text(provider.get("full_name")), "family": last,
                  "given": [first] if first else [],
                  "suffix": [provider["title"]] if text(provider.get("title")) else []}],
        "gender": gender,
        "photo": [{"url": photo}] if photo else [],
        "qualification": [{"code": {"text": c}} for c in [provider.get("title"), *certifications] if text(c)],
        "communication": [_language(lang) for lang in languages],
    })


def _language(name: str) -> Json:
    code = _LANG.get(name.strip().lower())
    concept: Json = {"text": name.strip()}
    if code:
        concept["coding"] = [{"system": "urn:ietf:bcp:47", "code": code, "display": name.strip()}]
    return concept


def organization(practice: Json) -> Json:
    pid = need_str("practice", practice, "practice_id")
    return pruned({
        "resourceType": "Organization",
        "id": organization_id(pid),
        "identifier": [identifier(PRACTICE, pid)],
        "active": True,
        "name": text(practice.get("practice_name")) or pid,
    })


def _phone(number: Any, extension: Any) -> list[Json]:
    value = text(number)
    if value is None:
        return []
    if text(extension):
        value = f"{value} ext. {str(extension).strip()}"
    return [{"system": "phone", "value": value, "use": "work"}]


def location(plid: str, loc: Json, practice_ref: Json | None) -> Json:
    """BaseLocation (in person) → Location with its position."""
    _, lid = split_provider_location(plid)
    for key in ("address1", "city", "state", "zip_code"):
        need_str(plid, loc, key)
    tz = text(loc.get("time_zone"))
    return pruned({
        "resourceType": "Location",
        "id": location_id(lid),
        "identifier": [identifier(LOCATION, lid)],
        "extension": [{"url": TZ_CODE, "valueCode": tz}] if tz else [],
        "status": "active",
        "name": text(loc.get("location_name")) or loc["address1"],
        "mode": "instance",
        "telecom": _phone(loc.get("phone_number"), loc.get("phone_extension")),
        "address": {"use": "work", "type": "physical", "line": [loc["address1"], text(loc.get("address2"))],
                    "city": loc["city"], "state": loc["state"], "postalCode": loc["zip_code"], "country": "US"},
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                     "code": "bu", "display": "Building"}]},
        "position": position(plid, loc.get("latitude"), loc.get("longitude")),
        "managingOrganization": practice_ref,
    })


def virtual_location(plid: str, loc: Json, practice_ref: Json | None) -> Json:
    """A virtual_location (video visits) → a Location of kind 'virtual', without a position."""
    _, lid = split_provider_location(plid)
    tz = text(loc.get("time_zone"))
    return pruned({
        "resourceType": "Location",
        "id": location_id(lid),
        "identifier": [identifier(LOCATION, lid)],
        "extension": [{"url": TZ_CODE, "valueCode": tz}] if tz else [],
        "status": "active",
        "name": text(loc.get("location_name")) or "Video visit",
        "mode": "kind",
        "type": [{"text": "Virtual (video) visit"}],
        "address": {"state": text(loc.get("state"))},
        "managingOrganization": practice_ref,
    })


def provider_location(pl: Json) -> list[Json]:
    """A ProviderLocation → [Practitioner, Organization?, Location?, PractitionerRole, Schedule]."""
    plid = need_str("provider_location", pl, "provider_location_id")
    split_provider_location(plid)
    provider = need_obj(plid, pl, "provider")
    prac = practitioner(provider)
    out: list[Json] = [prac]
    org_ref = None
    if isinstance(pl.get("practice"), dict) and text(pl["practice"].get("practice_id")):
        org = organization(pl["practice"])
        out.append(org)
        org_ref = ref("Organization", org["id"], org.get("name"))
    if isinstance(pl.get("location"), dict):
        loc = location(plid, pl["location"], org_ref)
    elif isinstance(pl.get("virtual_location"), dict):
        loc = virtual_location(plid, pl["virtual_location"], org_ref)
    else:
        raise MappingError(plid, "a provider location needs 'location' or 'virtual_location'")
    out.append(loc)
    specialties = [s for s in provider.get("specialty_ids") or [] if text(s)]
    names = [str(s) for s in provider.get("specialties") or []]
    loc_ref = ref("Location", loc["id"], loc.get("name"))
    prac_ref = ref("Practitioner", prac["id"], prac["name"][0].get("text"))
    role = prune({
        "resourceType": "PractitionerRole",
        "id": role_id(plid),
        "identifier": [identifier(PROVIDER_LOCATION, plid)],
        "active": True,
        "practitioner": prac_ref,
        "organization": org_ref,
        "location": [loc_ref],
        "specialty": codings(SPECIALTY, specialties, names),
        "telecom": loc.get("telecom", []),
    })
    out.append(role)
    out.append(schedule(plid, provider, role, prac_ref, loc_ref))
    return out


def schedule(plid: str, provider: Json, role: Json, prac_ref: Json, loc_ref: Json) -> Json:
    """The Schedule of one provider at one location; its serviceTypes are the ZocDoc visit reasons."""
    default = text(provider.get("default_visit_reason_id"))
    reasons = [r for r in provider.get("visit_reason_ids") or [] if text(r)]
    ordered = ([default] if default else []) + [r for r in reasons if r != default]
    return pruned({
        "resourceType": "Schedule",
        "id": schedule_id(plid),
        "identifier": [identifier(PROVIDER_LOCATION, plid)],
        "active": True,
        "serviceType": codings(VISIT_REASON, ordered),
        "specialty": role.get("specialty", []),
        "actor": [ref("PractitionerRole", role["id"]), prac_ref, loc_ref],
        "comment": f"ZocDoc provider location {plid}",
    })


def parse_start(record: str, value: Any) -> datetime:
    """A ZocDoc ``start_time``: ISO-8601 with the provider's UTC offset."""
    if not isinstance(value, str):
        raise MappingError(record, "'start_time' is missing")
    try:
        start = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MappingError(record, f"'start_time' {value!r} is not an ISO-8601 date-time") from exc
    if start.tzinfo is None:
        raise MappingError(record, f"'start_time' {value!r} has no UTC offset")
    return start


def fhir_instant(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def slot(plid: str, timeslot: Json, minutes: int = DEFAULT_SLOT_MINUTES) -> Json:
    """One availability Timeslot → a free Slot of the provider location's Schedule."""
    start = parse_start(plid, timeslot.get("start_time"))
    start_text = fhir_instant(start)
    reason = text(timeslot.get("visit_reason_id"))
    booking_url = text(timeslot.get("booking_url"))
    return pruned({
        "resourceType": "Slot",
        "id": slot_id(plid, start_text),
        "identifier": [identifier(TIMESLOT, f"{plid}|{timeslot['start_time']}")],
        "schedule": ref("Schedule", schedule_id(plid)),
        "serviceType": codings(VISIT_REASON, [reason] if reason else []),
        "status": "free",
        "start": start_text,
        "end": fhir_instant(start + timedelta(minutes=minutes)),
        "comment": f"ZocDoc booking link: {booking_url}" if booking_url else None,
    })


def availability(data: Any, minutes: int = DEFAULT_SLOT_MINUTES) -> tuple[list[Json], list[MappingError]]:
    """The ``data`` of an availability response → Slots; bad timeslots are reported, the rest kept."""
    if not isinstance(data, list):
        raise MappingError("availability", "'data' is not a list")
    slots: list[Json] = []
    errors: list[MappingError] = []
    for entry in data:
        try:
            plid = need_str("availability", obj(entry), "provider_location_id")
            split_provider_location(plid)
        except MappingError as exc:
            errors.append(exc)
            continue
        for ts in entry.get("timeslots") or []:
            try:
                if not isinstance(ts, dict):
                    raise MappingError(plid, "a timeslot is not an object")
                slots.append(slot(plid, ts, minutes))
            except MappingError as exc:
                errors.append(exc)
    return slots, errors


def timeslot_key(slot: Json) -> tuple[str, str] | None:
    """(provider_location_id, start_time as ZocDoc sent it) of a Slot mapped from a ZocDoc timeslot."""
    value = zocdoc_value(slot, TIMESLOT)
    if value is None:
        return None
    plid, _, start = value.rpartition("|")
    return (plid, start) if plid and start else None


def zocdoc_value(resource: Json, system: str) -> str | None:
    """The value of the resource's identifier in ``system`` (the ZocDoc id it came from)."""
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == system and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None
