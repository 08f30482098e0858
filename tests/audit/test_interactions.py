"""An AuditEvent for each interaction type (R4 auditevent.html; IHE BALP RESTful events).

Expected values are BALP's and R4's: ``type`` = audit-event-type#rest, ``subtype`` = the
restful-interaction code, ``action`` C (create), R (read, vread, history), U (update, patch),
D (delete), E (search, operation, batch, transaction); ``outcome`` 0 on success; the user agent
names the fhirUser and is the requestor, the client agent carries the client_id and the caller's
IP address; ``entity`` names the resource (versioned) and the patient it concerns.
"""

from __future__ import annotations

import base64
import uuid

from tests.audit.conftest import INTERACTION, Person, client_agent, events, subtypes, user_agent, whats
from tests.conftest import LiveServer

REST = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
        "display": "RESTful Operation"}


def test_an_audit_event_for_each_interaction(audited: LiveServer) -> None:
    doc = Person(audited)
    pat = doc.send("POST", "Patient", {"resourceType": "Patient", "name": [{"family": "Audit" + uuid.uuid4().hex[:6]}]})
    assert pat.status_code == 201
    pid = pat.json()["id"]
    subject = {"reference": f"Patient/{pid}"}
    obs = doc.send("POST", "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "bp"},
                                           "subject": subject}).json()
    oid = obs["id"]
    assert doc.get(f"Observation/{oid}").status_code == 200
    assert doc.get(f"Observation/{oid}/_history/1").status_code == 200
    assert doc.send("PUT", f"Observation/{oid}", {**obs, "status": "amended"}).status_code == 200
    patch = [{"op": "replace", "path": "/status", "value": "corrected"}]
    assert doc.send("PATCH", f"Observation/{oid}", patch,
                    **{"Content-Type": "application/json-patch+json"}).status_code == 200
    assert doc.get("Observation", patient=pid, status="corrected").status_code == 200
    assert doc.get(f"Observation/{oid}/_history").status_code == 200
    assert doc.get(f"Patient/{pid}/$everything").status_code == 200
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Condition", "subject": subject, "code": {"text": "flu"}},
         "request": {"method": "POST", "url": "Condition"}}]}
    assert doc.send("POST", "", tx).status_code == 200
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET",
                                                                               "url": f"Patient/{pid}"}}]}
    assert doc.send("POST", "", batch).status_code == 200
    assert doc.send("DELETE", f"Observation/{oid}").status_code in (200, 204)

    expected = {  # (subtype, action) → an entity it must name
        ("create", "C"): f"Observation/{oid}/_history/1",
        ("read", "R"): f"Observation/{oid}/_history/1",
        ("vread", "R"): f"Observation/{oid}/_history/1",
        ("update", "U"): f"Observation/{oid}/_history/2",
        ("patch", "U"): f"Observation/{oid}/_history/3",
        ("search-type", "E"): f"Patient/{pid}",
        ("history-instance", "R"): f"Observation/{oid}",
        ("operation", "E"): f"Patient/{pid}",
        ("delete", "D"): f"Observation/{oid}/_history/4",
    }

    def complete(found: list[dict]) -> bool:
        seen = {(s, e["action"]) for e in found for s in subtypes(e)}
        return set(expected) | {("transaction", "E"), ("batch", "E")} <= seen

    found = events(audited, {"agent": doc.ref}, complete)
    assert complete(found), sorted({(s, e["action"]) for e in found for s in subtypes(e)})
    for (subtype, action), entity in expected.items():
        matching = [e for e in found if subtypes(e) == [subtype] and entity in whats(e)]
        assert len(matching) == 1, (subtype, [whats(e) for e in found if subtypes(e) == [subtype]])
        event = matching[0]
        assert event["type"] == REST
        assert event["subtype"] == [{"system": INTERACTION, "code": subtype, "display": subtype}]
        assert event["action"] == action and event["outcome"] == "0"
        user = user_agent(event)
        assert user["who"] == {"reference": doc.ref} and user["requestor"] is True
        assert user["altId"] == doc.username
        app = client_agent(event)
        assert app["who"]["identifier"]["value"] == "fhir-server-cli" and app["requestor"] is False
        assert app["network"] == {"address": "127.0.0.1", "type": "2"}
        assert event["source"]["type"][0]["code"] == "4"  # Application Server
        patients = [e for e in event["entity"] if e.get("role", {}).get("code") == "1"]
        assert [p["what"]["reference"] for p in patients] == [f"Patient/{pid}"], event["entity"]
        checked = doc.send("POST", "AuditEvent/$validate", event)  # a valid R4 AuditEvent
        assert checked.status_code == 200, checked.text
        assert not [i for i in checked.json()["issue"] if i["severity"] in ("error", "fatal")], checked.text
    search = next(e for e in found if subtypes(e) == ["search-type"])
    query = next(e for e in search["entity"] if e["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == f"/Observation?patient={pid}&status=corrected"
    tx_events = [e for e in found if subtypes(e) == ["transaction"]]
    assert len(tx_events) == 1 and tx_events[0]["action"] == "E"
    created = [e for e in found if subtypes(e) == ["create"] and any(w.startswith("Condition/") for w in whats(e))]
    assert len(created) == 1 and created[0]["action"] == "C"


def test_a_failed_write_leaves_only_its_failure(audited: LiveServer) -> None:
    """The write's fact is in the write's transaction: a transaction that rolls back records no change."""
    doc = Person(audited)
    marker = uuid.uuid4().hex
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:t", "value": marker}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "not-a-status", "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = doc.send("POST", "", tx)
    assert resp.status_code in (400, 422)
    found = events(audited, {"agent": doc.ref}, lambda f: any(e["outcome"] == "4" for e in f))
    assert [(subtypes(e), e["action"], e["outcome"]) for e in found] == [(["transaction"], "E", "4")]
    assert found[0]["outcomeDesc"]
    assert not [e for e in found if any(w.startswith("Patient/") for w in whats(e))]
