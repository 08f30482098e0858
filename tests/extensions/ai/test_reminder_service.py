"""Medication reminders are produced from the change feed: a new active MedicationRequest gets its
due reminders stored at once, exactly once (idempotent with the periodic tick)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, patient


@pytest.fixture()
def reminding(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("FHIR_REMINDER_MINUTES", "60")
    server = LiveServer(Database(pg_admin_url), auth_enabled=False).start()
    yield server
    server.stop()


def _reminders(c, pid: str) -> list[dict]:  # type: ignore[no-untyped-def]
    bundle = c.get("/Communication", params={"subject": f"Patient/{pid}", "_count": 100}).json()
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_a_new_medication_request_gets_its_reminders(reminding: LiveServer) -> None:
    now = datetime.now(UTC)
    # two doses a day at fixed times: one 20 minutes from now, one 20 hours from now (outside the hour)
    soon, later = now + timedelta(minutes=20), now + timedelta(hours=20)
    times = [soon.strftime("%H:%M:00"), later.strftime("%H:%M:00")]
    with reminding.client() as c:
        pid = c.post("/Patient", json=patient("Pills"), headers=FHIR_JSON).json()["id"]
        mr = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
              "subject": {"reference": f"Patient/{pid}"}, "authoredOn": (now - timedelta(days=1)).strftime("%Y-%m-%d"),
              "medicationCodeableConcept": {"text": "Amoxicillin 500 mg"},
              "dosageInstruction": [{"sequence": 1, "timing": {"repeat": {"frequency": 2, "period": 1,
                                                                            "periodUnit": "d", "timeOfDay": times}}}]}
        created = c.post("/MedicationRequest", json=mr, headers=FHIR_JSON).json()
        deadline = time.time() + 30
        while not (found := _reminders(c, pid)) and time.time() < deadline:
            time.sleep(0.2)
        assert len(found) == 1  # only the dose in the next hour
        note = found[0]
        assert note["recipient"] == [{"reference": f"Patient/{pid}"}]
        assert note["basedOn"] == [{"reference": f"MedicationRequest/{created['id']}"}]
        assert note["sent"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))
        assert "Amoxicillin" in note["payload"][0]["contentString"]
        # touching the request again stores nothing twice
        created["note"] = [{"text": "with food"}]
        c.put(f"/MedicationRequest/{created['id']}", json=created, headers=FHIR_JSON)
        time.sleep(2)
        assert len(_reminders(c, pid)) == 1
