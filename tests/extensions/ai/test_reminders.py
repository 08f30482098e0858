"""Medication reminders: dose times from Timing (hand-worked), and stored Communications for a Synthea patient."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from extensions.ai.reminders import SYSTEM, due_reminders, write_due
from fhir_server.app import open_server
from tests.conftest import LiveServer
from tests.extensions.ai.records import load_synthea

START = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
END = datetime(2026, 3, 3, tzinfo=UTC)


def _mr(repeat: dict[str, Any], **extra: Any) -> dict[str, Any]:
    res = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
           "medicationCodeableConcept": {"text": "metformin 500 MG Oral Tablet"},
           "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-01-10",
           "dosageInstruction": [{"sequence": 1, "timing": {"repeat": repeat},
                                  "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]}
    res.update(extra)
    return res


def _sent(comms: list[dict[str, Any]]) -> list[str]:
    return [c["sent"] for c in comms]


def test_times_of_day_every_day() -> None:
    comms = due_reminders([_mr({"frequency": 2, "period": 1, "periodUnit": "d",
                                "timeOfDay": ["08:00:00", "20:00:00"]})], START, END)
    assert _sent(comms) == ["2026-03-01T08:00:00Z", "2026-03-01T20:00:00Z",
                            "2026-03-02T08:00:00Z", "2026-03-02T20:00:00Z"]
    c = comms[0]
    assert c["payload"][0]["contentString"] == \
        "Reminder: time to take metformin 500 MG Oral Tablet, dose 1 tablet (08:00)."
    assert c["category"][0]["coding"][0]["code"] == "reminder" and c["status"] == "completed"
    assert c["recipient"] == [{"reference": "Patient/p1"}] and c["basedOn"] == [{"reference": "MedicationRequest/m1"}]
    assert c["identifier"] == [{"system": SYSTEM, "value": "m1/1/2026-03-01T08:00:00Z"}]


def test_usual_times_intervals_weekdays_and_every_other_day() -> None:
    three = due_reminders([_mr({"frequency": 3, "period": 1, "periodUnit": "d"})], START, END)
    assert [s[11:16] for s in _sent(three)] == ["08:00", "14:00", "20:00"] * 2
    every8h = due_reminders([_mr({"frequency": 1, "period": 8, "periodUnit": "h"})], START, END)
    assert [s[8:16] for s in _sent(every8h)] == ["01T00:00", "01T08:00", "01T16:00",
                                                   "02T00:00", "02T08:00", "02T16:00"]
    monday = due_reminders([_mr({"frequency": 1, "period": 1, "periodUnit": "wk", "dayOfWeek": ["mon"]})],
                           START, END)
    assert _sent(monday) == ["2026-03-02T09:00:00Z"]
    # every 2 days from 2026-01-10: 2026-03-01 is day 50 (even), 2026-03-02 day 51
    other = due_reminders([_mr({"frequency": 1, "period": 2, "periodUnit": "d"})], START, END)
    assert _sent(other) == ["2026-03-01T09:00:00Z"]


def test_time_zone() -> None:
    paris = due_reminders([_mr({"frequency": 1, "period": 1, "periodUnit": "d"})], START, END,
                          ZoneInfo("Europe/Paris"))
    # 09:00 in Paris (UTC+1 in March before the change to summer time) is 08:00 UTC
    assert _sent(paris) == ["2026-03-01T08:00:00Z", "2026-03-02T08:00:00Z"]


def test_no_reminders_for_prn_inactive_ended_or_monthly() -> None:
    prn = _mr({"frequency": 1, "period": 1, "periodUnit": "d"})
    prn["dosageInstruction"][0]["asNeededBoolean"] = True
    stopped = _mr({"frequency": 1, "period": 1, "periodUnit": "d"}, status="stopped")
    ended = _mr({"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": {"end": "2026-02-01"}})
    monthly = _mr({"frequency": 1, "period": 1, "periodUnit": "mo"})
    too_often = _mr({"frequency": 1, "period": 1, "periodUnit": "min"})
    assert due_reminders([prn, stopped, ended, monthly, too_often], START, END) == []
    not_yet = _mr({"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": {"start": "2026-03-02"}})
    assert _sent(due_reminders([not_yet], START, END)) == ["2026-03-02T09:00:00Z"]


def test_synthea_patient_reminders_are_stored_once(client: httpx.Client, live: LiveServer) -> None:
    bundle, refs = load_synthea(client, "Michele_Wolf")
    pid = next(v for v in refs.values() if v.startswith("Patient/")).split("/")[1]
    meds = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"
            and e["resource"]["status"] == "active"]
    timed = [refs[e["fullUrl"]] for e in meds if "timing" in (e["resource"].get("dosageInstruction") or [{}])[0]]
    assert len(timed) == 2  # metoprolol and Lasix, once a day each

    async def run() -> tuple[list[str], list[str]]:
        async with open_server(live.settings) as server:
            first = await write_due(server, pid, START, END, live.base)
            again = await write_due(server, pid, START, END, live.base)
            return first, again

    first, again = asyncio.run(run())
    assert len(first) == 4 and again == []  # 2 medications x 2 days at 09:00; the second run adds nothing
    found = client.get("/Communication", params={"subject": f"Patient/{pid}", "category": "reminder",
                                                 "_count": "50"}).json()
    stored = [e["resource"] for e in found["entry"]]
    assert sorted(r["sent"] for r in stored) == ["2026-03-01T09:00:00Z"] * 2 + ["2026-03-02T09:00:00Z"] * 2
    assert {r["basedOn"][0]["reference"] for r in stored} == set(timed)
