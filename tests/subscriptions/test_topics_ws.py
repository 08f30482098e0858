"""Topic-based subscriptions (R4 backport IG), $status/$events, heartbeats, and the R4 websocket channel."""

from __future__ import annotations

import time

from websockets.sync.client import connect

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient
from tests.subscriptions.receiver import Receiver

BP = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"


def _topic_sub(endpoint: str, topic: str, filt: str | None = None, content: str = "id-only",
               heartbeat: int | None = None) -> dict:
    channel: dict = {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                     "_payload": {"extension": [{"url": BP + "backport-payload-content", "valueCode": content}]}}
    if heartbeat:
        channel["extension"] = [{"url": BP + "backport-heartbeat-period", "valueUnsignedInt": heartbeat}]
    sub: dict = {"resourceType": "Subscription", "status": "requested", "reason": "t", "criteria": topic,
                 "channel": channel}
    if filt:
        sub["_criteria"] = {"extension": [{"url": BP + "backport-filter-criteria", "valueString": filt}]}
    return sub


def _params(bundle: dict) -> dict:
    status = bundle["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    out: dict = {}
    for p in status["parameter"]:
        value = p.get("part") or next(v for k, v in p.items() if k.startswith("value"))
        out.setdefault(p["name"], []).append(value)
    return out


def _parts(part: list) -> dict:
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in part}


def test_topic_subscription_notification_bundle(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        sub = c.post("/Subscription", json=_topic_sub(receiver.url, "urn:fhir-server:topic:Patient:create",
                                                      "Patient?gender=female"), headers=FHIR_JSON).json()
        assert sub["status"] == "active"
        c.post("/Patient", json=patient(gender="male"), headers=FHIR_JSON)  # filtered out
        her = c.post("/Patient", json=patient(gender="female"), headers=FHIR_JSON).json()
        her["birthDate"] = "1971-01-01"
        c.put(f"/Patient/{her['id']}", json=her, headers=FHIR_JSON)  # an update: not in a :create topic
        got = receiver.wait_for(lambda r: len(r) >= 1)
        time.sleep(1.0)
        assert len(receiver.received) == 1
        bundle = got[0]["body"]
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
        p = _params(bundle)
        assert p["type"] == ["event-notification"]
        assert p["topic"] == ["urn:fhir-server:topic:Patient:create"]
        assert p["events-since-subscription-start"] == ["1"]
        event = _parts(p["notification-event"][0])
        assert event["event-number"] == "1"
        assert event["focus"]["reference"].endswith(f"/Patient/{her['id']}")
        assert len(bundle["entry"]) == 1  # id-only: no resource entries

        status = c.get(f"/Subscription/{sub['id']}/$status").json()
        sp = _params(status)
        assert sp["type"] == ["query-status"] and sp["events-since-subscription-start"] == ["1"]
        events = c.get(f"/Subscription/{sub['id']}/$events", params={"content": "full-resource"}).json()
        assert events["entry"][1]["resource"]["id"] == her["id"]
        assert _params(events)["type"] == ["query-event"]


def test_full_resource_and_delete_events(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        c.post("/Subscription", json=_topic_sub(receiver.url, "urn:fhir-server:topic:Slot", content="full-resource"),
               headers=FHIR_JSON)
        slot = {"resourceType": "Slot", "schedule": {"reference": "Schedule/x"}, "status": "free",
                "start": "2030-01-01T09:00:00Z", "end": "2030-01-01T09:30:00Z"}
        created = c.post("/Slot", json=slot, headers=FHIR_JSON).json()
        c.delete(f"/Slot/{created['id']}")
        got = receiver.wait_for(lambda r: len(r) >= 2)
        first, second = got[0]["body"], got[1]["body"]
        assert first["entry"][1]["resource"]["id"] == created["id"]
        assert first["entry"][1]["request"]["method"] == "POST"
        assert second["entry"][1]["request"] == {"method": "DELETE", "url": f"Slot/{created['id']}"}
        assert _parts(_params(second)["notification-event"][0])["event-number"] == "2"


def test_heartbeats(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        c.post("/Subscription", json=_topic_sub(receiver.url, "urn:fhir-server:topic:Patient", heartbeat=1),
               headers=FHIR_JSON)
        got = receiver.wait_for(lambda r: len(r) >= 2, timeout=20)
        assert all(_params(n["body"])["type"] == ["heartbeat"] for n in got[:2])


def test_capability_statement_advertises_websocket_and_topics(client) -> None:  # type: ignore[no-untyped-def]
    cs = client.get("/metadata").json()
    ws = [e["valueUri"] for e in cs["rest"][0].get("extension", [])
          if e["url"] == "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket"]
    assert ws and ws[0].startswith("ws://") and ws[0].endswith("/websocket")
    topics = {e["valueCanonical"] for e in cs.get("extension", []) if e["url"].endswith("subscriptiontopic-canonical")}
    assert "urn:fhir-server:topic:Appointment" in topics and "urn:fhir-server:topic:Communication:create" in topics


def test_websocket_bind_and_ping(sub_server: LiveServer) -> None:
    with sub_server.client() as c:
        sub = c.post("/Subscription", json={
            "resourceType": "Subscription", "status": "requested", "reason": "ws",
            "criteria": "Patient?family=Socket", "channel": {"type": "websocket"}}, headers=FHIR_JSON).json()
        assert sub["status"] == "active"
        with connect(f"ws://127.0.0.1:{sub_server.port}/websocket", open_timeout=10) as ws:
            ws.send("bind nonexistent")
            assert ws.recv(timeout=10).startswith("error")
            ws.send(f"bind {sub['id']}")
            assert ws.recv(timeout=10) == f"bound {sub['id']}"
            c.post("/Patient", json=patient("Socket"), headers=FHIR_JSON)
            assert ws.recv(timeout=20) == f"ping {sub['id']}"


def test_status_of_unknown_subscription_is_404(client) -> None:  # type: ignore[no-untyped-def]
    assert_outcome(client.get("/Subscription/nope/$status"), 404)
