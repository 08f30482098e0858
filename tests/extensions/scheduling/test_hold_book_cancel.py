"""Appointment/$hold, $book, $cancel (Argonaut Scheduling; R4 appointment.html#statemachine), hold expiry, and
notifications of booking and cancellation through the subscription outbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from extensions.scheduling.workflow import HOLD_EXPIRES
from tests.conftest import LiveServer
from tests.extensions.scheduling.clinic import Clinic, at, iso, params, patient, read
from tests.helpers import FHIR_JSON, assert_outcome
from tests.subscriptions.receiver import Receiver


def _hold(c: httpx.Client, slot: str, pat: str, *extra: tuple[str, Any]) -> httpx.Response:
    return c.post("/Appointment/$hold", json=params(("slot", f"Slot/{slot}"), ("patient", f"Patient/{pat}"), *extra),
                  headers=FHIR_JSON)


def _expires(appt: dict[str, Any]) -> datetime:
    ext = next(e for e in appt["extension"] if e["url"] == HOLD_EXPIRES)
    return datetime.fromisoformat(ext["valueInstant"].replace("Z", "+00:00"))


def test_hold_then_book_then_cancel(c: httpx.Client) -> None:
    k = Clinic(c, 35.68, 139.69)
    slot, pat = k.slot(at(5, 9)), patient(c)
    held = _hold(c, slot, pat)
    assert held.status_code == 201, held.text
    appt = held.json()
    assert appt["status"] == "pending" and held.headers["Location"].endswith(f"Appointment/{appt['id']}/_history/1")
    assert timedelta(minutes=9) < _expires(appt) - datetime.now(UTC) <= timedelta(minutes=10)
    assert read(c, f"Slot/{slot}")["status"] == "busy-tentative"
    actors = {p["actor"]["reference"] for p in appt["participant"]}
    assert actors == {f"Patient/{pat}", f"Practitioner/{k.practitioner}", f"Location/{k.location}"}
    answers = {p["actor"]["reference"].split("/")[0]: p["status"] for p in appt["participant"]}
    assert answers == {"Patient": "accepted", "Practitioner": "tentative", "Location": "tentative"}
    booked = c.post(f"/Appointment/{appt['id']}/$book", headers=FHIR_JSON)
    assert booked.status_code == 200, booked.text
    assert booked.json()["status"] == "booked" and "extension" not in booked.json()
    assert {p["status"] for p in booked.json()["participant"]} == {"accepted"}
    assert read(c, f"Slot/{slot}")["status"] == "busy"
    assert_outcome(c.post(f"/Appointment/{appt['id']}/$book", headers=FHIR_JSON), 409, "conflict")
    cancelled = c.post(f"/Appointment/{appt['id']}/$cancel", json=params(("reason", "feeling better")),
                       headers=FHIR_JSON)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelationReason"]["text"] == "feeling better"
    assert read(c, f"Slot/{slot}")["status"] == "free"
    assert_outcome(c.post(f"/Appointment/{appt['id']}/$cancel", headers=FHIR_JSON), 409, "conflict")


def test_direct_booking_of_a_proposal_from_find(c: httpx.Client) -> None:
    k = Clinic(c, 35.69, 139.70)
    slot, pat = k.slot(at(5, 10)), patient(c)
    found = c.get("/Appointment/$find", params={"practitioner": k.practitioner, "patient": pat,
                                                "start": iso(at(5)), "end": iso(at(6))}).json()
    proposal = next(e["resource"] for e in found["entry"] if e["search"]["mode"] == "match")
    booked = c.post("/Appointment/$book", json=params(("appointment", proposal)), headers=FHIR_JSON)
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert body["status"] == "booked" and body["slot"] == [{"reference": f"Slot/{slot}"}]
    assert {p["status"] for p in body["participant"] if p["actor"]["reference"] == f"Patient/{pat}"} == {"accepted"}
    again = c.post("/Appointment/$book", json=params(("appointment", proposal)), headers=FHIR_JSON)
    assert_outcome(again, 409, "conflict")
    assert_outcome(_hold(c, slot, patient(c)), 409, "conflict")


def test_operations_refuse_bad_requests(c: httpx.Client) -> None:
    k = Clinic(c, 35.70, 139.71)
    slot, pat = k.slot(at(5, 11)), patient(c)
    assert_outcome(c.get("/Appointment/$book"), 405)  # changes data: POST only
    assert_outcome(c.post("/Appointment/$hold", json=params(("patient", f"Patient/{pat}")), headers=FHIR_JSON), 400)
    assert_outcome(c.post("/Appointment/$hold", json=params(("slot", "Slot/nope"), ("patient", f"Patient/{pat}")),
                          headers=FHIR_JSON), 404)
    assert_outcome(_hold(c, slot, "no-such-patient"), 404)
    assert_outcome(_hold(c, slot, pat, ("expires", ("valueInstant", "2001-01-01T00:00:00Z"))), 400)
    assert_outcome(_hold(c, slot, pat, ("expires", ("valueInstant", iso(at(9))))), 400)
    assert_outcome(c.post("/Appointment/$book", json=params(("appointment", {"resourceType": "Patient"})),
                          headers=FHIR_JSON), 400)
    assert_outcome(c.post("/Appointment/no-such/$cancel", headers=FHIR_JSON), 404)
    assert_outcome(c.post("/Appointment/$book", content=b"{not json", headers=FHIR_JSON), 400)
    assert read(c, f"Slot/{slot}")["status"] == "free"


def test_an_expired_hold_frees_its_slot(c: httpx.Client) -> None:
    k = Clinic(c, 35.71, 139.72)
    slot, pat = k.slot(at(6, 9)), patient(c)
    soon = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    held = _hold(c, slot, pat, ("expires", ("valueInstant", soon))).json()
    assert read(c, f"Slot/{slot}")["status"] == "busy-tentative"
    window = {"practitioner": k.practitioner, "start": iso(at(6)), "end": iso(at(7))}
    assert [e for e in c.get("/Appointment/$find", params=window).json()["entry"]
            if e["search"]["mode"] == "match"] == []
    time.sleep(max(0.0, (datetime.fromisoformat(soon.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds())
               + 0.5)
    assert_outcome(c.post(f"/Appointment/{held['id']}/$book", headers=FHIR_JSON), 409, "conflict")
    offered = [e for e in c.get("/Appointment/$find", params=window).json()["entry"] if e["search"]["mode"] == "match"]
    assert [e["resource"]["slot"][0]["reference"] for e in offered] == [f"Slot/{slot}"]
    assert read(c, f"Slot/{slot}")["status"] == "free"
    lapsed = read(c, f"Appointment/{held['id']}")
    assert lapsed["status"] == "cancelled" and lapsed["cancelationReason"]["text"] == "hold expired"
    other = c.post("/Appointment/$book", json=params(("slot", f"Slot/{slot}"), ("patient", f"Patient/{patient(c)}")),
                   headers=FHIR_JSON)
    assert other.status_code == 201, other.text


def test_expired_holds_are_released_without_any_request(c: httpx.Client) -> None:
    """The sweeper task (started by the first scheduling operation) frees lapsed holds by itself."""
    k = Clinic(c, 35.72, 139.73)
    slot, pat = k.slot(at(6, 10)), patient(c)
    soon = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    held = _hold(c, slot, pat, ("expires", ("valueInstant", soon)))
    assert held.status_code == 201, held.text
    deadline = time.time() + 30
    while read(c, f"Slot/{slot}")["status"] != "free":
        assert time.time() < deadline, "the expired hold was not released"
        time.sleep(0.5)
    assert read(c, f"Appointment/{held.json()['id']}")["status"] == "cancelled"


def test_booking_and_cancelling_notify_subscribers(sched: LiveServer, c: httpx.Client) -> None:
    receiver = Receiver().up()
    try:
        k = Clinic(c, 35.73, 139.74)
        slot, pat = k.slot(at(7, 9)), patient(c)
        sub = {"resourceType": "Subscription", "status": "requested", "reason": "appointment notices",
               "criteria": f"Appointment?patient=Patient/{pat}",
               "channel": {"type": "rest-hook", "endpoint": receiver.url, "payload": "application/fhir+json"}}
        assert c.post("/Subscription", json=sub, headers=FHIR_JSON).status_code == 201
        appt = c.post("/Appointment/$book", json=params(("slot", f"Slot/{slot}"), ("patient", f"Patient/{pat}")),
                      headers=FHIR_JSON).json()
        c.post(f"/Appointment/{appt['id']}/$cancel", headers=FHIR_JSON)

        def statuses(got: list[dict[str, Any]]) -> list[str]:  # R4 rest-hook: the body is the resource
            return [n["body"]["status"] for n in got
                    if (n["body"] or {}).get("resourceType") == "Appointment" and n["body"]["id"] == appt["id"]]

        got = receiver.wait_for(lambda r: len(statuses(r)) >= 2)
        assert statuses(got) == ["booked", "cancelled"]
    finally:
        receiver.down()
