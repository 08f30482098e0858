"""ZocDoc end to end against the fake ZocDoc (../shared/apis/zocdoc.md): ``fhir-server sync zocdoc`` with its
reconciliation report, ZocDoc slots in $find, booking and cancelling on ZocDoc, and the signed
webhook (signature, timestamp tolerance, replay, status changes)."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from fhir_server import cli
from mappers import zocdoc
from tests.conftest import LiveServer
from tests.extensions.scheduling.clinic import Clinic, create, iso, params, read
from tests.fixtures.fake_zocdoc import FakeZocDoc
from tests.fixtures.serve import payload
from tests.helpers import FHIR_JSON, assert_outcome

NY = timezone(timedelta(hours=-5))
EXAMPLE = payload("zocdoc/provider-locations.response")["data"]["provider_locations"]
IN_PERSON, VIRTUAL = EXAMPLE[0]["provider_location_id"], EXAMPLE[1]["provider_location_id"]
REASON = "pc_TST-visit0001"


def local(days: int, hour: int, minute: int = 0) -> str:
    """A ZocDoc start_time: provider-local with its offset."""
    day = (datetime.now(NY) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY).isoformat()


def sync(live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    s = live.settings
    for name, value in {"ZOCDOC_BASE_URL": s.zocdoc_base_url, "ZOCDOC_TOKEN_URL": s.zocdoc_token_url,
                        "ZOCDOC_CLIENT_ID": s.zocdoc_client_id, "ZOCDOC_CLIENT_SECRET": s.zocdoc_client_secret}.items():
        monkeypatch.setenv(name, str(value))
    code = cli.main(["sync", "zocdoc", "--zip", "10013", "--database-url", str(s.database_url), *args])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    return out


def by_identifier(c: httpx.Client, res_type: str, system: str, value: str) -> dict[str, Any]:
    escaped = value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,")  # R4 search.html#escaping
    bundle = c.get(f"/{res_type}", params={"identifier": f"{system}|{escaped}"}).json()
    found = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    assert len(found) == 1, bundle
    return found[0]


@pytest.fixture(scope="module")
def seeded(zocdoc_fake: FakeZocDoc) -> FakeZocDoc:
    for pl in EXAMPLE:
        zocdoc_fake.add_provider_location(pl)
    broken = copy.deepcopy(EXAMPLE[0])
    broken["provider_location_id"] = "pr_broken|lo_broken"
    del broken["location"]
    zocdoc_fake.add_provider_location(broken)
    zocdoc_fake.add_slots(IN_PERSON, [local(2, 9, 30), local(2, 10, 15), local(3, 9)], REASON)
    return zocdoc_fake


def test_sync_imports_and_reports(sched: LiveServer, c: httpx.Client, seeded: FakeZocDoc,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = sync(sched, monkeypatch, capsys, "--specialty", "sp_901", "--days", "7")
    assert "providers and locations: created 10, updated 0, unchanged 0, failed 1" in out
    assert "FAILED provider location pr_broken|lo_broken" in out and "virtual_location" in out
    assert "slots: created 3, updated 0, unchanged 0, failed 0" in out
    doc = by_identifier(c, "Practitioner", zocdoc.PROVIDER, "pr_aa11bb22-cc33_dd44ee55")
    assert doc["name"][0]["family"] == "Tillbury" and doc["name"][0]["given"] == ["Rowan"]
    assert {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1999999901"} in doc["identifier"]
    loc = by_identifier(c, "Location", zocdoc.LOCATION, "lo_ff66gg77-hh88_ii99jj00")
    assert loc["position"] == {"latitude": 40.7201, "longitude": -74.0049}
    assert loc["address"]["line"] == ["120 Sample Street", "Suite 4"] and loc["address"]["postalCode"] == "10013"
    sched_res = by_identifier(c, "Schedule", zocdoc.PROVIDER_LOCATION, IN_PERSON)
    assert sched_res["serviceType"][0]["coding"][0] == {"system": zocdoc.VISIT_REASON, "code": REASON}
    slot = by_identifier(c, "Slot", zocdoc.TIMESLOT, f"{IN_PERSON}|{local(2, 9, 30)}")
    assert slot["status"] == "free" and slot["start"] == local(2, 9, 30)
    assert datetime.fromisoformat(slot["end"]) - datetime.fromisoformat(slot["start"]) == timedelta(minutes=30)
    again = sync(sched, monkeypatch, capsys, "--specialty", "sp_901", "--days", "7")
    assert "providers and locations: created 0, updated 0, unchanged 10, failed 1" in again
    assert "slots: created 0, updated 0, unchanged 3, failed 0" in again
    seeded.provider_locations[0]["location"]["phone_number"] = "2125550199"
    changed = sync(sched, monkeypatch, capsys, "--specialty", "sp_901", "--days", "7")
    assert "providers and locations: created 0, updated 2, unchanged 8, failed 1" in changed  # role + location


def _find(c: httpx.Client, **extra: str) -> list[dict[str, Any]]:
    query = {"near": "40.7199|-74.0031|5|km", "start": iso(datetime.now(UTC)),
             "end": iso(datetime.now(UTC) + timedelta(days=5)), **extra}
    resp = c.get("/Appointment/$find", params=query)
    assert resp.status_code == 200, resp.text
    return [e for e in resp.json()["entry"] if e["search"]["mode"] == "match"]


def test_find_merges_local_and_zocdoc_slots(sched: LiveServer, c: httpx.Client, seeded: FakeZocDoc) -> None:
    clinic = Clinic(c, 40.7300, -74.0000)  # ~1.2 km from the point; the ZocDoc location is ~0.24 km
    mine = clinic.slot(datetime.fromisoformat(local(2, 9, 30)).astimezone(UTC))
    seeded.add_slots(IN_PERSON, [local(2, 11)], REASON)  # offered after the sync: $find asks ZocDoc itself
    got = _find(c)
    refs = [e["resource"]["slot"][0]["reference"] for e in got]
    zd_first = f"Slot/{zocdoc.slot_id(IN_PERSON, local(2, 9, 30))}"
    assert refs[:2] == [zd_first, f"Slot/{mine}"]  # same start: the nearer first
    starts = [datetime.fromisoformat(e["resource"]["start"]) for e in got]
    assert starts == sorted(starts)
    assert f"Slot/{zocdoc.slot_id(IN_PERSON, local(2, 11))}" in refs
    seeded.remove_slot(IN_PERSON, local(2, 11))  # taken elsewhere on ZocDoc
    refs = [e["resource"]["slot"][0]["reference"] for e in _find(c)]
    gone = zocdoc.slot_id(IN_PERSON, local(2, 11))
    assert f"Slot/{gone}" not in refs and read(c, f"Slot/{gone}")["status"] == "busy-unavailable"


def _zocdoc_patient(c: httpx.Client, **extra: Any) -> str:
    return create(c, {"resourceType": "Patient", "name": [{"use": "official", "family": "Winterbourne",
                                                           "given": ["Calla"]}],
                      "gender": "female", "birthDate": "1988-11-02",
                      "telecom": [{"system": "phone", "value": "+1 (212) 555-0188"},
                                  {"system": "email", "value": "calla.w@example.org"}],
                      "address": [{"line": ["45 Placeholder Lane", "Apt 2B"], "city": "New York", "state": "NY",
                                   "postalCode": "10013"}], **extra})


def _event(fake: FakeZocDoc, sched: LiveServer, aid: str, kind: str = "updated", **kw: Any) -> httpx.Response:
    return fake.send_webhook(sched.base + "/webhooks/zocdoc", fake.event(aid, kind), **kw)


def test_book_on_zocdoc_then_webhooks_update_it(sched: LiveServer, c: httpx.Client, seeded: FakeZocDoc) -> None:
    start = local(3, 9)
    slot = zocdoc.slot_id(IN_PERSON, start)
    _find(c)
    pat = _zocdoc_patient(c)
    held = c.post("/Appointment/$hold", json=params(("slot", f"Slot/{slot}"), ("patient", f"Patient/{pat}")),
                  headers=FHIR_JSON)
    assert held.status_code == 201, held.text
    booked = c.post(f"/Appointment/{held.json()['id']}/$book", headers=FHIR_JSON)
    assert booked.status_code == 200, booked.text
    appt = booked.json()
    aid = zocdoc.zocdoc_value(appt, zocdoc.APPOINTMENT)
    assert aid in seeded.appointments and appt["status"] == "pending"  # ZocDoc: pending_booking
    sent = seeded.appointments[aid]["request"]["data"]
    assert sent["start_time"] == start and sent["provider_location_id"] == IN_PERSON
    assert sent["visit_reason_id"] == REASON and sent["patient_type"] == "new"
    assert sent["patient"] == {"developer_patient_id": pat, "first_name": "Calla", "last_name": "Winterbourne",
                               "date_of_birth": "1988-11-02", "sex_at_birth": "female", "phone_number": "2125550188",
                               "email_address": "calla.w@example.org", "patient_address": {
                                   "address1": "45 Placeholder Lane", "address2": "Apt 2B", "city": "New York",
                                   "state": "NY", "zip_code": "10013"}}
    assert read(c, f"Slot/{slot}")["status"] == "busy-tentative"
    event = seeded.event(aid)
    first = seeded.send_webhook(sched.base + "/webhooks/zocdoc", event)
    assert first.status_code == 200, first.text
    assert read(c, f"Appointment/{appt['id']}")["status"] == "booked"  # confirmed on ZocDoc
    assert read(c, f"Slot/{slot}")["status"] == "busy"
    version = read(c, f"Appointment/{appt['id']}")["meta"]["versionId"]
    replay = seeded.send_webhook(sched.base + "/webhooks/zocdoc", event)
    assert replay.status_code == 200 and "duplicate" in replay.text
    assert read(c, f"Appointment/{appt['id']}")["meta"]["versionId"] == version
    seeded.appointments[aid]["appointment_status"] = "cancelled"
    assert _event(seeded, sched, aid, "cancelled").status_code == 200
    assert read(c, f"Appointment/{appt['id']}")["status"] == "cancelled"
    assert read(c, f"Slot/{slot}")["status"] == "free"


def test_webhook_signature_and_timestamp_are_checked(sched: LiveServer, seeded: FakeZocDoc) -> None:
    url = sched.base + "/webhooks/zocdoc"
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleQ=="
    assert_outcome(seeded.send_webhook(url, seeded.event("x"), key=wrong_key), 401)
    assert_outcome(seeded.send_webhook(url, seeded.event("x"), timestamp=int(time.time()) - 301), 401)
    assert_outcome(seeded.send_webhook(url, seeded.event("x"), timestamp=int(time.time()) + 400), 401)
    assert_outcome(httpx.post(url, content=b"{}", headers={"webhook-timestamp": str(int(time.time()))}), 401)
    assert_outcome(seeded.send_webhook(url, {"event_type": "something_else"}), 400)
    ok = seeded.send_webhook(url, seeded.event("never-booked"), timestamp=int(time.time()) - 200)
    assert ok.status_code == 200 and "ignored" in ok.text  # ZocDoc answers 404 for it


def test_sandbox_mock_request_reaches_the_webhook(sched: LiveServer, seeded: FakeZocDoc) -> None:
    from tests.fixtures.fake_zocdoc import WEBHOOK_KEY

    resp = httpx.post(seeded.url + "/v1/webhook/mock-request", json={
        "webhook_url": sched.base + "/webhooks/zocdoc", "webhook_key": WEBHOOK_KEY,
        "appointment_update_type": "created"}, timeout=30)
    assert resp.status_code == 200 and resp.json()["event_type"] == "appointment_updated"
    status, text = seeded.mock_deliveries[-1]
    assert status == 200 and "ignored" in text  # a mock event names no real appointment


def test_webhook_creates_an_appointment_made_on_zocdoc(sched: LiveServer, c: httpx.Client,
                                                       seeded: FakeZocDoc) -> None:
    start = local(4, 14)
    seeded.appointments["zd-made-there"] = {
        "appointment_id": "zd-made-there", "appointment_status": "confirmed", "developer_patient_id": None,
        "is_provider_resource": True, "confirmation_type": "auto", "visit_type": "in_person",
        "start_time": start, "provider_location_id": IN_PERSON, "visit_reason_id": REASON}
    assert _event(seeded, sched, "zd-made-there", "created").status_code == 200
    appt = by_identifier(c, "Appointment", zocdoc.APPOINTMENT, "zd-made-there")
    assert appt["status"] == "booked" and appt["start"] == start
    actors = {p["actor"].get("reference") for p in appt["participant"]}
    assert f"Practitioner/{zocdoc.practitioner_id('pr_aa11bb22-cc33_dd44ee55')}" in actors


def test_zocdoc_booking_needs_complete_patient_details(c: httpx.Client, seeded: FakeZocDoc) -> None:
    start = local(3, 15)
    seeded.add_slots(IN_PERSON, [start], REASON)
    _find(c)
    slot = zocdoc.slot_id(IN_PERSON, start)
    pat = create(c, {"resourceType": "Patient", "name": [{"family": "Nophone", "given": ["Ann"]}],
                     "gender": "female", "birthDate": "1990-01-01"})
    before = len(seeded.appointments)
    body = assert_outcome(c.post("/Appointment/$book", json=params(("slot", f"Slot/{slot}"),
                                                                    ("patient", f"Patient/{pat}")),
                                 headers=FHIR_JSON), 422)
    text = body["issue"][0]["diagnostics"]
    assert "phone" in text and "email" in text and "address" in text
    assert len(seeded.appointments) == before and read(c, f"Slot/{slot}")["status"] == "free"


def test_cancel_on_zocdoc_and_refusals_relayed(c: httpx.Client, seeded: FakeZocDoc) -> None:
    start = local(3, 16)
    seeded.add_slots(IN_PERSON, [start], REASON)
    _find(c)
    slot = zocdoc.slot_id(IN_PERSON, start)
    booked = c.post("/Appointment/$book", json=params(("slot", f"Slot/{slot}"),
                                                      ("patient", f"Patient/{_zocdoc_patient(c)}")), headers=FHIR_JSON)
    assert booked.status_code == 201, booked.text
    aid = zocdoc.zocdoc_value(booked.json(), zocdoc.APPOINTMENT)
    cancelled = c.post(f"/Appointment/{booked.json()['id']}/$cancel", headers=FHIR_JSON)
    assert cancelled.status_code == 200 and seeded.appointments[aid]["appointment_status"] == "cancelled"
    assert read(c, f"Slot/{slot}")["status"] == "free"
    taken = local(3, 17)
    seeded.add_slots(IN_PERSON, [taken], REASON)
    _find(c)
    seeded.remove_slot(IN_PERSON, taken)  # booked by someone else on ZocDoc since our $find
    other = zocdoc.slot_id(IN_PERSON, taken)
    again = c.post("/Appointment/$book", json=params(("slot", f"Slot/{other}"),
                                                     ("patient", f"Patient/{_zocdoc_patient(c)}")), headers=FHIR_JSON)
    body = assert_outcome(again, 409, "conflict")
    assert "ZocDoc refused" in body["issue"][0]["diagnostics"]
    assert read(c, f"Slot/{other}")["status"] == "free"  # nothing was written here


def test_zocdoc_outages(c: httpx.Client, seeded: FakeZocDoc) -> None:
    seeded.fail_next = [429, 503]  # retried with backoff: the answer still comes
    assert any("zocdoc" in e["resource"]["slot"][0]["reference"] for e in _find(c))
    seeded.fail_next = [500] * 12  # ZocDoc down: local slots still offered, with a warning
    resp = c.get("/Appointment/$find", params={"near": "40.7199|-74.0031|5|km"})
    seeded.fail_next = []
    assert resp.status_code == 200
    outcome = [e for e in resp.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and "ZocDoc" in outcome[0]["resource"]["issue"][0]["diagnostics"]
