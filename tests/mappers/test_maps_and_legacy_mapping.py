"""mappers.maps on the documented Google payloads (../shared/apis/google-maps.md) and mappers.legacy on rows of
the seed platform's tables; expected values are read off the payloads and the FHIR spec."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from fhir_server import validation
from fhir_server.model import model
from mappers import legacy, maps
from mappers.common import MappingError
from tests.fixtures.serve import payload


def valid(resource: dict) -> None:
    model()
    errors = [i for i in validation.validate(resource) if i.severity in ("error", "fatal")]
    assert not errors, (resource["resourceType"], [e.message for e in errors])


def test_legacy_place_details() -> None:
    place = maps.legacy_place(payload("maps/legacy.details.response")["result"])
    org, loc = maps.resources(place)
    valid(org)
    valid(loc)
    assert loc["identifier"] == [{"system": maps.PLACE_ID, "value": "ChIJFAKEplaceid0000000001"}]
    assert loc["position"] == {"latitude": 40.72094, "longitude": -74.00412}
    assert loc["address"] == {"use": "work", "type": "physical", "text": "120 Sample St, New York, NY 10013, USA",
                              "line": ["120 Sample Street"], "city": "New York", "state": "NY",
                              "postalCode": "10013", "country": "US"}
    assert loc["type"][0]["coding"][0] == {"system": maps.ROLE_CODE, "code": "OF", "display": "Outpatient facility"}
    assert loc["status"] == "active" and loc["managingOrganization"]["reference"] == f"Organization/{org['id']}"
    # Mon, Tue, Thu 08-17; Wed 08-19; Fri 08-15 (periods of the sample)
    hours = {tuple(h["daysOfWeek"]): (h["openingTime"], h["closingTime"]) for h in loc["hoursOfOperation"]}
    assert hours == {("mon", "tue", "thu"): ("08:00:00", "17:00:00"), ("wed",): ("08:00:00", "19:00:00"),
                     ("fri",): ("08:00:00", "15:00:00")}
    assert {"system": "phone", "value": "+1 212-555-0143", "use": "work"} in org["telecom"]
    assert {"system": "url", "value": "https://canal-family-health.example.org/"} in org["telecom"]


def test_legacy_nearby_search() -> None:
    places, errors = maps.places(payload("maps/legacy.nearbysearch.response"), "legacy")
    assert errors == [] and [p.name for p in places] == ["Canal Family Health", "Example Walk-in Pharmacy"]
    _, pharmacy = maps.resources(places[1])
    valid(pharmacy)
    assert pharmacy["status"] == "suspended"  # CLOSED_TEMPORARILY
    assert pharmacy["type"][0]["coding"][0]["code"] == "PHARM"
    assert pharmacy["address"] == {"use": "work", "type": "physical", "text": "9 Illustration Ave, New York"}
    with pytest.raises(MappingError, match="REQUEST_DENIED: The provided API key is invalid"):
        maps.places(payload("maps/legacy.request-denied.response"), "legacy")
    assert maps.places({"status": "ZERO_RESULTS", "results": []}, "legacy") == ([], [])


def test_places_new_search_responses() -> None:
    places, _ = maps.places(payload("maps/new.searchnearby.response"), "new")
    _org, loc = maps.resources(places[0])
    valid(loc)
    assert loc["name"] == "Canal Family Health" and loc["position"]["longitude"] == -74.00412
    assert loc["hoursOfOperation"] == [
        {"daysOfWeek": ["mon"], "openingTime": "08:00:00", "closingTime": "17:00:00"},
        {"daysOfWeek": ["wed"], "openingTime": "08:00:00", "closingTime": "19:00:00"}]
    urgent = maps.resources(places[1])[1]
    assert urgent["type"][0]["coding"][1] == {"system": maps.PLACE_TYPE, "code": "medical_clinic"}
    peds = maps.resources(maps.places(payload("maps/new.searchtext.response"), "new")[0][0])[1]
    assert peds["address"]["line"] == ["77 Invented Road"] and peds["address"]["postalCode"] == "07030"
    assert maps.places({}, "new") == ([], [])  # New API: no places key when nothing matched
    open_all_day = maps.new_place({"id": "x", "displayName": {"text": "24h"}, "location": {"latitude": 1,
                                   "longitude": 2}, "regularOpeningHours": {"periods": [
                                       {"open": {"day": 0, "hour": 0, "minute": 0}}]}})
    assert maps.resources(open_all_day)[1]["hoursOfOperation"] == [
        {"daysOfWeek": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], "allDay": True}]


def test_bad_places_are_reported_not_mapped() -> None:
    places, errors = maps.places({"places": [{"displayName": {"text": "no id"}},
                                             {"id": "p2", "location": {"latitude": 95, "longitude": 0}}]}, "new")
    assert "'id' is missing" in errors[0].message
    with pytest.raises(MappingError, match="not on the globe"):
        maps.resources(places[0])


def test_geocode_response() -> None:
    hit = maps.geocode(payload("maps/legacy.geocode.response"))
    assert hit is not None and (hit.lat, hit.lng) == (40.71931, -74.00228)
    assert hit.location_type == "ROOFTOP" and not hit.partial
    assert maps.geocode({"status": "ZERO_RESULTS", "results": []}) is None
    with pytest.raises(MappingError, match="OVER_DAILY_LIMIT"):
        maps.geocode({"status": "OVER_DAILY_LIMIT", "results": []})
    assert maps.address_line({"line": ["1 Main St"], "city": "Town", "state": "CA", "postalCode": "90001"}) == \
        "1 Main St, Town, CA, 90001"


def test_legacy_patient_rows() -> None:
    out = legacy.patient_record({"id": 7, "name": "Hopper, Grace Brewster", "date_of_birth": date(1906, 12, 9),
                                 "medical_history": [{"diagnosis": "Gout", "code": "M10.9", "since": "1980"},
                                                     "Insomnia"]})
    patient, gout, insomnia = out
    for r in out:
        valid(r)
    assert patient["name"] == [{"use": "official", "text": "Hopper, Grace Brewster", "family": "Hopper",
                                "given": ["Grace", "Brewster"]}]
    assert patient["birthDate"] == "1906-12-09"
    assert gout["code"] == {"text": "Gout", "coding": [{"system": legacy.ICD10, "code": "M10.9", "display": "Gout"}]}
    assert gout["subject"] == {"reference": f"Patient/{patient['id']}"} and gout["onsetDateTime"] == "1980"
    assert insomnia["clinicalStatus"]["coding"][0]["code"] == "active"
    for bad, message in (({"id": 1, "name": "A B", "medical_history": "diabetes"}, "is not a list"),
                         ({"id": 1, "name": "A B", "date_of_birth": "12/09/1906"}, "is not a date"),
                         ({"id": 1, "name": "A B", "medical_history": [{"status": "active"}]}, "names no condition"),
                         ({"id": 1, "name": "A B", "medical_history": ["Flu", "flu"]}, "twice"),
                         ({"id": None, "name": "A B"}, "the id is missing")):
        with pytest.raises(MappingError, match=message):
            legacy.patient_record(bad)


def test_legacy_appointment_rows() -> None:
    appt = legacy.appointment_record({"id": 3, "patient_id": 7, "provider_id": 12,
                                      "appointment_time": datetime(2026, 5, 1, 9, 0), "status": "Completed"})
    valid(appt)
    assert appt["status"] == "fulfilled"
    assert (appt["start"], appt["end"]) == ("2026-05-01T09:00:00+00:00", "2026-05-01T09:30:00+00:00")
    assert appt["participant"][0]["actor"] == {"reference": f"Patient/{legacy.patient_id(7)}"}
    assert appt["participant"][1]["actor"]["identifier"] == {"system": legacy.PROVIDER, "value": "12"}
    with pytest.raises(MappingError, match="status 'maybe'"):
        legacy.appointment_record({"id": 3, "patient_id": 7, "appointment_time": "2026-05-01T09:00", "status": "maybe"})
