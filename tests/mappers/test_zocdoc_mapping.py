"""mappers.zocdoc / zocdoc_booking on the documented example payloads (../shared/apis/zocdoc.md): directory →
Practitioner/Organization/Location/PractitionerRole/Schedule, availability → Slots, FHIR → booking
request and back, webhook signatures. Expected values are read off the payloads and the API notes."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

import pytest

from fhir_server import validation
from fhir_server.model import model
from mappers import zocdoc
from mappers.common import MappingError
from mappers.zocdoc_booking import (
    RemoteAppointment,
    WebhookRejected,
    booking_request,
    remote_appointment,
    sign,
    verify_signature,
    webhook_event,
)
from tests.fixtures.serve import payload

PLS = payload("zocdoc/provider-locations.response")["data"]["provider_locations"]


def valid(resource: dict) -> None:
    model()
    errors = [i for i in validation.validate(resource) if i.severity in ("error", "fatal")]
    assert not errors, (resource["resourceType"], [e.message for e in errors])


def test_in_person_provider_location() -> None:
    out = zocdoc.provider_location(PLS[0])
    by_type = {r["resourceType"]: r for r in out}
    assert list(by_type) == ["Practitioner", "Organization", "Location", "PractitionerRole", "Schedule"]
    for r in out:
        valid(r)
    doc = by_type["Practitioner"]
    assert doc["identifier"] == [{"system": zocdoc.PROVIDER, "value": "pr_aa11bb22-cc33_dd44ee55"},
                                 {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1999999901"}]
    assert doc["name"] == [{"use": "official", "text": "Dr. Rowan Tillbury, MD", "family": "Tillbury",
                            "given": ["Rowan"], "suffix": ["MD"]}]
    assert doc["gender"] == "other"  # gender_identity "Non-binary"
    assert doc["photo"] == [{"url": "https://images.example.invalid/provider/rt.jpg"}]  # protocol-relative URL
    assert [c["text"] for c in doc["communication"]] == ["English", "Portuguese"]
    loc = by_type["Location"]
    assert loc["identifier"] == [{"system": zocdoc.LOCATION, "value": "lo_ff66gg77-hh88_ii99jj00"}]
    assert loc["position"] == {"latitude": 40.7201, "longitude": -74.0049}
    assert loc["address"] == {"use": "work", "type": "physical", "line": ["120 Sample Street", "Suite 4"],
                              "city": "New York", "state": "NY", "postalCode": "10013", "country": "US"}
    assert loc["telecom"] == [{"system": "phone", "value": "2125550143", "use": "work"}]
    assert loc["extension"] == [{"url": "http://hl7.org/fhir/StructureDefinition/tz-code",
                                 "valueCode": "America/New_York"}]
    assert by_type["Organization"]["name"] == "Canal Family Health PC"
    role = by_type["PractitionerRole"]
    assert role["identifier"][0]["value"] == "pr_aa11bb22-cc33_dd44ee55|lo_ff66gg77-hh88_ii99jj00"
    assert role["specialty"] == [{"coding": [{"system": zocdoc.SPECIALTY, "code": "sp_901",
                                              "display": "Family Physician"}]}]
    sched = by_type["Schedule"]
    assert [cc["coding"][0]["code"] for cc in sched["serviceType"]] == ["pc_TST-visit0001", "pc_TST-visit0002"]
    assert {a["reference"] for a in sched["actor"]} == {
        f"PractitionerRole/{role['id']}", f"Practitioner/{doc['id']}", f"Location/{loc['id']}"}


def test_virtual_provider_location_and_stable_ids() -> None:
    out = zocdoc.provider_location(PLS[1])
    loc = next(r for r in out if r["resourceType"] == "Location")
    assert loc["mode"] == "kind" and "position" not in loc and loc["name"] == "Video visit"
    for r in out:
        valid(r)
    assert [r["id"] for r in zocdoc.provider_location(copy.deepcopy(PLS[1]))] == [r["id"] for r in out]
    assert all(len(r["id"]) <= 64 for r in out)


@pytest.mark.parametrize("damage, message", [
    (lambda pl: pl.pop("location"), "needs 'location' or 'virtual_location'"),
    (lambda pl: pl["location"].pop("latitude"), "latitude is not a number"),
    (lambda pl: pl["location"].update(latitude=123.0), "not on the globe"),
    (lambda pl: pl.update(provider_location_id="no-separator"), "'<provider_id>|<location_id>'"),
    (lambda pl: pl["provider"].pop("provider_id"), "'provider_id' is missing"),
])
def test_bad_provider_locations_are_refused(damage: object, message: str) -> None:
    pl = copy.deepcopy(PLS[0])
    damage(pl)  # type: ignore[operator]
    with pytest.raises(MappingError, match=message):
        zocdoc.provider_location(pl)


def test_availability_to_slots() -> None:
    data = payload("zocdoc/availability.response")["data"]
    slots, errors = zocdoc.availability(data, minutes=45)
    assert errors == []
    assert [s["start"] for s in slots] == ["2026-03-10T09:30:00-04:00", "2026-03-10T10:15:00-04:00"]
    assert [s["end"] for s in slots] == ["2026-03-10T10:15:00-04:00", "2026-03-10T11:00:00-04:00"]
    plid = data[0]["provider_location_id"]
    for s in slots:
        valid(s)
        assert s["status"] == "free" and s["schedule"] == {"reference": f"Schedule/{zocdoc.schedule_id(plid)}"}
        assert s["serviceType"] == [{"coding": [{"system": zocdoc.VISIT_REASON, "code": "pc_TST-visit0001"}]}]
    assert zocdoc.timeslot_key(slots[0]) == (plid, "2026-03-10T09:30:00-04:00")
    broken = copy.deepcopy(data)
    broken[0]["timeslots"][0]["start_time"] = "2026-03-10T09:30:00"  # no offset
    slots, errors = zocdoc.availability(broken)
    assert len(slots) == 1 and "no UTC offset" in errors[0].message


def _patient() -> dict:
    return {"resourceType": "Patient", "id": "fhir-Patient-7c1e", "gender": "female", "birthDate": "1988-11-02",
            "name": [{"use": "official", "family": "Winterbourne", "given": ["Calla"]}],
            "telecom": [{"system": "phone", "value": "(212) 555-0188"}, {"system": "email",
                                                                         "value": "calla.w@example.org"}],
            "address": [{"line": ["45 Placeholder Lane", "Apt 2B"], "city": "New York", "state": "NY",
                         "postalCode": "10013-1234"}]}


def test_booking_request_matches_the_documented_example() -> None:
    example = payload("zocdoc/appointments.create.request")
    data = example["data"]
    got = booking_request(data["provider_location_id"], data["start_time"], data["visit_reason_id"], _patient(),
                          "new", data["notes"])
    expected_patient = {k: v for k, v in data["patient"].items() if k not in ("insurance", "gender")}
    assert got["appointment_type"] == "providers"
    assert got["data"]["patient"] == expected_patient
    assert {k: v for k, v in got["data"].items() if k != "patient"} == {
        k: v for k, v in data.items() if k != "patient"}


def test_booking_request_names_every_missing_field() -> None:
    bare = {"resourceType": "Patient", "id": "p", "gender": "unknown", "name": [{"family": "X"}]}
    with pytest.raises(MappingError) as err:
        booking_request("pr_a|lo_b", "2026-03-10T09:30:00-04:00", "pc_1", bare)
    for needed in ("given and family", "birthDate", "male or female", "phone", "email", "address"):
        assert needed in err.value.message
    bad_phone = _patient()
    bad_phone["telecom"][0]["value"] = "012-555-0188"  # a US number cannot start with 0
    with pytest.raises(MappingError, match="10-digit US phone"):
        booking_request("pr_a|lo_b", "2026-03-10T09:30:00-04:00", "pc_1", bad_phone)


def test_appointment_responses_map_to_fhir_status() -> None:
    created = remote_appointment(payload("zocdoc/appointments.create.response")["data"])
    assert created == RemoteAppointment("7f3b9c1e-2a4d-4e6f-8b0c-1d2e3f4a5b6c", "pending", "pending_booking")
    got = remote_appointment(payload("zocdoc/appointment.get.response")["data"])
    assert (got.status, got.start) == ("booked", "2026-03-10T09:30:00-04:00")
    assert got.provider_location_id == "pr_aa11bb22-cc33_dd44ee55|lo_ff66gg77-hh88_ii99jj00"
    for status, fhir in (("cancelled", "cancelled"), ("no_show", "noshow"), ("booking_failed", "cancelled"),
                         ("rescheduled", "booked")):
        assert remote_appointment({"appointment_id": "a", "appointment_status": status}).status == fhir
    with pytest.raises(MappingError):
        remote_appointment({"appointment_id": "a", "appointment_status": "teleported"})


def test_webhook_signature_of_the_documented_example() -> None:
    h = payload("zocdoc/webhook.appointment-updated.headers")
    key, raw, ts = h["shared_key_base64"], h["raw_body"].encode(), h["headers"]["webhook-timestamp"]
    signature = h["headers"]["webhook-signature"]
    verify_signature(key, ts, signature, raw, now=int(ts) + 10)
    verify_signature(key, ts, "v0:bm9wZQ==; " + signature, raw, now=int(ts))  # any v1 entry may match
    assert sign(key, ts, raw) == signature
    for bad in (dict(body=raw.replace(b"updated", b"cancelled")), dict(now=int(ts) + 301), dict(now=int(ts) - 301),
                dict(signature="v2:" + signature[3:]), dict(signature=None), dict(ts=None), dict(ts="soon"),
                dict(key="d3Jvbmc=")):
        args = {"key": key, "ts": ts, "signature": signature, "body": raw, "now": int(ts)} | bad
        with pytest.raises(WebhookRejected):
            verify_signature(args["key"], args["ts"], args["signature"], args["body"], now=args["now"])
    event = webhook_event(json.loads(raw))
    assert event.appointment_id == "7f3b9c1e-2a4d-4e6f-8b0c-1d2e3f4a5b6c" and event.update_type == "updated"
    assert event.changed == ("appointment.start_time", "patient.uploaded_attachments")
    assert event.key == "7f3b9c1e-2a4d-4e6f-8b0c-1d2e3f4a5b6c|2026-03-05T18:20:29.7654321Z|updated"
    with pytest.raises(WebhookRejected):
        webhook_event({**json.loads(raw), "event_type": "provider_updated"})


def test_slot_times_keep_the_provider_offset() -> None:
    start = datetime.fromisoformat("2026-11-01T01:30:00-04:00")
    slot = zocdoc.slot("pr_a|lo_b", {"start_time": start.isoformat(), "visit_reason_id": "pc_1"}, 30)
    assert slot["start"] == "2026-11-01T01:30:00-04:00"
    assert datetime.fromisoformat(slot["end"]) - start == timedelta(minutes=30)
