"""AuditEvents are searchable by patient, agent, date and action (R4 auditevent.html#search: ``patient``
= entity.what or agent.who that is a Patient, ``agent`` = agent.who, ``date`` = recorded,
``action``), and cannot be created, changed or deleted through the API (405 with an
OperationOutcome), while authorised users read them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from tests.audit.conftest import Person, events, subtypes, whats
from tests.conftest import LiveServer
from tests.helpers import assert_outcome
from tests.smart_auth.conftest import bearer, create, token

FHIR = {"Content-Type": "application/fhir+json"}


def test_search_by_patient_agent_date_and_action(audited: LiveServer) -> None:
    alice, bob = Person(audited), Person(audited)
    p1 = create(audited, {"resourceType": "Patient", "name": [{"family": "One" + uuid.uuid4().hex[:6]}]})["id"]
    p2 = create(audited, {"resourceType": "Patient", "name": [{"family": "Two" + uuid.uuid4().hex[:6]}]})["id"]
    time.sleep(0.05)
    start = datetime.now(UTC) - timedelta(milliseconds=10)
    obs = alice.send("POST", "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "t"},
                                             "subject": {"reference": f"Patient/{p1}"}}).json()
    assert alice.get(f"Observation/{obs['id']}").status_code == 200
    assert bob.get(f"Patient/{p2}").status_code == 200
    assert bob.get("Condition", patient=p2).status_code == 200

    def ids(params: dict[str, str], count: int) -> list[tuple[str, str]]:
        found = events(audited, params, lambda f: len(f) >= count)
        return sorted((e["action"], subtypes(e)[0]) for e in found)

    # p1: created (by the admin token), its Observation created and read; p2: created, read, searched
    assert ids({"patient": p1}, 3) == [("C", "create"), ("C", "create"), ("R", "read")]
    assert ids({"patient": f"Patient/{p2}"}, 3) == [("C", "create"), ("E", "search-type"), ("R", "read")]
    assert ids({"agent": alice.ref}, 2) == [("C", "create"), ("R", "read")]
    assert ids({"agent": bob.ref, "action": "R"}, 1) == [("R", "read")]
    assert ids({"agent": bob.ref, "action": "E"}, 1) == [("E", "search-type")]
    since = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert ids({"agent": alice.ref, "date": f"ge{since}"}, 2) == [("C", "create"), ("R", "read")]
    assert ids({"agent": alice.ref, "date": f"lt{since}"}, 0) == []
    assert ids({"patient": p1, "action": "R"}, 1) == [("R", "read")]


def test_audit_events_cannot_be_changed_through_the_api(audited: LiveServer) -> None:
    doc = Person(audited)
    assert doc.get("Patient", _count="1").status_code == 200
    event = events(audited, {"agent": doc.ref}, lambda f: len(f) >= 1)[0]
    eid = event["id"]
    assert doc.get(f"AuditEvent/{eid}").status_code == 200  # authorised users read them
    new = {k: v for k, v in event.items() if k not in ("id", "meta")}
    for method, path, body in [("POST", "AuditEvent", new), ("PUT", f"AuditEvent/{eid}", {**event, "outcome": "4"}),
                               ("DELETE", f"AuditEvent/{eid}", None), ("PUT", f"AuditEvent?_id={eid}", event),
                               ("DELETE", f"AuditEvent?_id={eid}", None)]:
        resp = doc.send(method, path, body)
        assert_outcome(resp, 405, "not-supported")
        assert resp.headers["allow"] == "GET, HEAD"
    patch = doc.send("PATCH", f"AuditEvent/{eid}", [{"op": "replace", "path": "/outcome", "value": "4"}],
                     **{"Content-Type": "application/json-patch+json"})
    assert_outcome(patch, 405, "not-supported")
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": new, "request": {"method": "POST", "url": "AuditEvent"}}]}
    assert_outcome(doc.send("POST", "", tx), 405)
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "DELETE",
                                                                               "url": f"AuditEvent/{eid}"}}]}
    answer = doc.send("POST", "", batch)
    assert answer.status_code == 200 and answer.json()["entry"][0]["response"]["status"].startswith("405")
    again = doc.get(f"AuditEvent/{eid}")
    assert again.status_code == 200 and again.json() == event  # untouched
    admin = token(audited, "system/*.cruds")
    resp = audited.client().post("/AuditEvent", json=new, headers=bearer(admin, **FHIR))
    assert_outcome(resp, 405)  # not even with every scope


def test_audit_event_of_a_read_names_the_read_version(audited: LiveServer) -> None:
    doc = Person(audited)
    created = doc.send("POST", "Patient", {"resourceType": "Patient", "gender": "other"}).json()
    doc.send("PUT", f"Patient/{created['id']}", {**created, "gender": "female"})
    assert doc.get(f"Patient/{created['id']}").status_code == 200
    found = events(audited, {"agent": doc.ref, "action": "R"}, lambda f: len(f) >= 1)
    assert [whats(e) for e in found] == [[f"Patient/{created['id']}/_history/2"]]
