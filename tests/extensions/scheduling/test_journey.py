"""A patient's journey end to end (issue 7): import places (Google) and ZocDoc availability, $find near a
point, $hold, $book, cancel, and find the freed slot again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mappers import maps, zocdoc
from tests.conftest import LiveServer
from tests.extensions.scheduling.clinic import create, iso, params, read
from tests.extensions.scheduling.test_geo import run_import
from tests.extensions.scheduling.test_zocdoc import EXAMPLE, IN_PERSON, REASON, _zocdoc_patient, local, sync
from tests.fixtures.fake_maps import FakeMaps
from tests.fixtures.fake_zocdoc import FakeZocDoc
from tests.helpers import FHIR_JSON

POINT = (40.7199, -74.0031)  # the patient, in lower Manhattan


def _offers(c: httpx.Client) -> list[tuple[str, float]]:
    resp = c.get("/Appointment/$find", params={"near": f"{POINT[0]}|{POINT[1]}|3|km", "start": iso(datetime.now(UTC)),
                                               "end": iso(datetime.now(UTC) + timedelta(days=6))})
    assert resp.status_code == 200, resp.text
    out = []
    for e in resp.json()["entry"]:
        if e["search"]["mode"] == "match":
            out.append((e["resource"]["slot"][0]["reference"], e["search"]["extension"][0]["valueDistance"]["value"]))
    return out


def test_patient_journey(sched: LiveServer, c: httpx.Client, zocdoc_fake: FakeZocDoc, maps_fake: FakeMaps,
                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # 1. places: a hospital near the patient, imported from Google
    maps_fake.add_place("ChIJjourneyHosp", "Journey Hospital", 40.7150, -74.0100, ["hospital"],
                        "1 Journey Plaza, New York, NY 10007, USA")
    code, out = run_import(sched, monkeypatch, capsys, "--near", f"{POINT[0]},{POINT[1]}", "--radius", "3000",
                           "--type", "hospital")
    assert code == 0, out
    hospital = c.get("/Location", params={"identifier": f"{maps.PLACE_ID}|ChIJjourneyHosp"}).json()["entry"][0]
    hospital_id = hospital["resource"]["id"]
    # our own clinician works there: a schedule with slots
    doc = create(c, {"resourceType": "Practitioner", "name": [{"family": "Local", "given": ["Lee"]}]})
    role = create(c, {"resourceType": "PractitionerRole", "practitioner": {"reference": f"Practitioner/{doc}"},
                      "location": [{"reference": f"Location/{hospital_id}"}]})
    schedule = create(c, {"resourceType": "Schedule", "actor": [{"reference": f"PractitionerRole/{role}"}]})
    t = datetime.fromisoformat(local(1, 9)).astimezone(UTC)
    local_slot = create(c, {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule}"},
                            "status": "free", "start": iso(t), "end": iso(t + timedelta(minutes=20))})
    # 2. ZocDoc: providers and availability
    zocdoc_fake.add_provider_location(EXAMPLE[0])
    zocdoc_fake.add_slots(IN_PERSON, [local(1, 9), local(1, 9, 45)], REASON)
    out = sync(sched, monkeypatch, capsys, "--visit-reason", REASON, "--days", "5")
    assert "slots: created 2" in out, out
    zd_first = f"Slot/{zocdoc.slot_id(IN_PERSON, local(1, 9))}"
    zd_second = f"Slot/{zocdoc.slot_id(IN_PERSON, local(1, 9, 45))}"
    # 3. $find near the patient: same start → the nearer (ZocDoc, 0.16 km) before ours (0.9 km); then later ones
    offers = _offers(c)
    assert [ref for ref, _ in offers] == [zd_first, f"Slot/{local_slot}", zd_second]
    assert offers[0][1] < offers[1][1]
    # 4. $hold the nearest, then $book it (on ZocDoc)
    patient = _zocdoc_patient(c)
    held = c.post("/Appointment/$hold", json=params(("slot", zd_first), ("patient", f"Patient/{patient}")),
                  headers=FHIR_JSON)
    assert held.status_code == 201, held.text
    assert [ref for ref, _ in _offers(c)] == [f"Slot/{local_slot}", zd_second]  # held: not offered
    booked = c.post(f"/Appointment/{held.json()['id']}/$book", headers=FHIR_JSON)
    assert booked.status_code == 200, booked.text
    remote_id = zocdoc.zocdoc_value(booked.json(), zocdoc.APPOINTMENT)
    assert zocdoc_fake.appointments[remote_id]["developer_patient_id"] == patient
    # 5. cancel: on ZocDoc too, and the slot is free again
    cancelled = c.post(f"/Appointment/{held.json()['id']}/$cancel", json=params(("reason", "plans changed")),
                       headers=FHIR_JSON)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert zocdoc_fake.appointments[remote_id]["appointment_status"] == "cancelled"
    assert read(c, zd_first)["status"] == "free"
    # 6. find again: the slot is offered again
    assert [ref for ref, _ in _offers(c)] == [zd_first, f"Slot/{local_slot}", zd_second]
