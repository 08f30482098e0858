"""Slot/Appointment invariants on plain CRUD and transactions (R4 appointment.html, slot.html): an Appointment
takes only free slots, taking marks them busy (busy-tentative while pending), releasing frees them,
and a slot is never taken twice."""

from __future__ import annotations

from typing import Any

import httpx

from tests.extensions.scheduling.clinic import Clinic, at, iso, patient, read
from tests.helpers import FHIR_JSON, assert_outcome


def _appointment(slot: str, pat: str, status: str = "booked", start: Any = None) -> dict[str, Any]:
    t = start or at(3, 9)
    return {"resourceType": "Appointment", "status": status, "start": iso(t), "end": iso(t.replace(minute=30)),
            "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [{"actor": {"reference": f"Patient/{pat}"}, "status": "accepted"}]}


def test_booking_marks_the_slot_busy_and_cancelling_frees_it(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    slot, pat = k.slot(at(3, 9)), patient(c)
    created = c.post("/Appointment", json=_appointment(slot, pat), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert read(c, f"Slot/{slot}")["status"] == "busy"
    appt = created.json()
    appt["status"] = "cancelled"
    appt["cancelationReason"] = {"text": "patient request"}
    assert c.put(f"/Appointment/{appt['id']}", json=appt, headers=FHIR_JSON).status_code == 200
    assert read(c, f"Slot/{slot}")["status"] == "free"


def test_a_slot_is_never_booked_twice(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    slot, pat = k.slot(at(3, 10)), patient(c)
    assert c.post("/Appointment", json=_appointment(slot, pat), headers=FHIR_JSON).status_code == 201
    body = assert_outcome(c.post("/Appointment", json=_appointment(slot, patient(c)), headers=FHIR_JSON),
                          409, "conflict")
    assert f"Slot/{slot}" in body["issue"][0]["diagnostics"]


def test_only_free_slots_can_be_taken(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    pat = patient(c)
    for status in ("busy", "busy-unavailable", "busy-tentative", "entered-in-error"):
        slot = k.slot(at(3, 11), status=status)
        assert_outcome(c.post("/Appointment", json=_appointment(slot, pat), headers=FHIR_JSON), 409, "conflict")


def test_pending_is_busy_tentative_and_proposed_takes_nothing(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    slot, pat = k.slot(at(3, 12)), patient(c)
    proposed = c.post("/Appointment", json=_appointment(slot, pat, "proposed"), headers=FHIR_JSON).json()
    assert read(c, f"Slot/{slot}")["status"] == "free"
    proposed["status"] = "pending"
    assert c.put(f"/Appointment/{proposed['id']}", json=proposed, headers=FHIR_JSON).status_code == 200
    assert read(c, f"Slot/{slot}")["status"] == "busy-tentative"
    proposed["status"] = "booked"
    assert c.put(f"/Appointment/{proposed['id']}", json=proposed, headers=FHIR_JSON).status_code == 200
    assert read(c, f"Slot/{slot}")["status"] == "busy"


def test_a_taken_slot_cannot_be_freed_or_deleted_directly(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    slot, pat = k.slot(at(3, 13)), patient(c)
    c.post("/Appointment", json=_appointment(slot, pat), headers=FHIR_JSON)
    s = read(c, f"Slot/{slot}")
    s["status"] = "free"
    assert_outcome(c.put(f"/Slot/{slot}", json=s, headers=FHIR_JSON), 409, "conflict")
    assert_outcome(c.delete(f"/Slot/{slot}"), 409, "conflict")
    patch = [{"op": "replace", "path": "/status", "value": "free"}]
    assert_outcome(c.patch(f"/Slot/{slot}", json=patch, headers={"Content-Type": "application/json-patch+json"}),
                   409, "conflict")
    assert read(c, f"Slot/{slot}")["status"] == "busy"


def test_deleting_or_moving_the_appointment_frees_its_slots(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    first, second, pat = k.slot(at(3, 14)), k.slot(at(3, 15)), patient(c)
    appt = c.post("/Appointment", json=_appointment(first, pat), headers=FHIR_JSON).json()
    appt["slot"] = [{"reference": f"Slot/{second}"}]
    assert c.put(f"/Appointment/{appt['id']}", json=appt, headers=FHIR_JSON).status_code == 200
    assert (read(c, f"Slot/{first}")["status"], read(c, f"Slot/{second}")["status"]) == ("free", "busy")
    assert c.delete(f"/Appointment/{appt['id']}").status_code in (200, 204)
    assert read(c, f"Slot/{second}")["status"] == "free"


def test_a_transaction_booking_one_slot_twice_writes_nothing(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    slot, pat = k.slot(at(3, 16)), patient(c)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _appointment(slot, pat), "request": {"method": "POST", "url": "Appointment"}},
        {"resource": _appointment(slot, pat), "request": {"method": "POST", "url": "Appointment"}}]}
    assert_outcome(c.post("/", json=bundle, headers=FHIR_JSON), 409)
    assert read(c, f"Slot/{slot}")["status"] == "free"
    found = c.get("/Appointment", params={"slot": f"Slot/{slot}"}).json()
    assert not [e for e in found.get("entry", []) if e["search"]["mode"] == "match"]


def test_a_transaction_can_create_the_slot_and_book_it(c: httpx.Client) -> None:
    k = Clinic(c, 40.0, -74.0)
    pat, t = patient(c), at(3, 17)
    slot = {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{k.schedule}"}, "status": "busy",
            "start": iso(t), "end": iso(t.replace(minute=30))}
    appt = _appointment("x", pat, start=t)
    appt["slot"] = [{"reference": "urn:uuid:6b1d2c8e-0000-4000-8000-000000000001"}]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6b1d2c8e-0000-4000-8000-000000000001", "resource": slot,
         "request": {"method": "POST", "url": "Slot"}},
        {"resource": appt, "request": {"method": "POST", "url": "Appointment"}}]}
    resp = c.post("/", json=bundle, headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text
    slot_id = resp.json()["entry"][0]["response"]["location"].split("/")[1]
    assert read(c, f"Slot/{slot_id}")["status"] == "busy"
    again = _appointment(slot_id, patient(c), start=t)
    assert_outcome(c.post("/Appointment", json=again, headers=FHIR_JSON), 409)
