"""R4 Subscriptions over rest-hook (R4 subscription.html): activation, matching, payloads, errors and recovery."""

from __future__ import annotations

import time

import httpx

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient
from tests.subscriptions.receiver import Receiver

LOINC = "http://loinc.org"


def _subscription(endpoint: str, criteria: str, payload: str | None = "application/fhir+json",
                  headers: list[str] | None = None) -> dict:
    channel: dict = {"type": "rest-hook", "endpoint": endpoint}
    if payload:
        channel["payload"] = payload
    if headers:
        channel["header"] = headers
    return {"resourceType": "Subscription", "status": "requested", "reason": "test", "criteria": criteria,
            "channel": channel}


def _obs(code: str, value: float = 1.0) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": {"value": value}}


def test_a_requested_subscription_becomes_active(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        sub = c.post("/Subscription", json=_subscription(receiver.url, f"Observation?code={LOINC}|1-8"),
                     headers=FHIR_JSON)
        assert sub.status_code == 201
        assert sub.json()["status"] == "active"


def test_unusable_subscriptions_are_refused(client: httpx.Client) -> None:
    bad = [
        _subscription("http://127.0.0.1:9/x", "Observation?frobnicate=1"),
        _subscription("http://127.0.0.1:9/x", "NotAType?code=1"),
        _subscription("ftp://nowhere", "Observation?code=1"),
        {**_subscription("http://127.0.0.1:9/x", "Observation?code=1"), "channel": {"type": "email"}},
        _subscription("http://127.0.0.1:9/x", "urn:not-a-topic-here"),
    ]
    for sub in bad:
        assert_outcome(client.post("/Subscription", json=sub, headers=FHIR_JSON), 422)


def test_matching_changes_are_posted_with_payload_and_headers(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        c.post("/Subscription", json=_subscription(receiver.url, f"Observation?code={LOINC}|8867-4",
                                                   headers=["Authorization: Bearer secret-1"]), headers=FHIR_JSON)
        c.post("/Observation", json=_obs("0000-0"), headers=FHIR_JSON)  # does not match
        created = c.post("/Observation", json=_obs("8867-4", 72), headers=FHIR_JSON).json()
        got = receiver.wait_for(lambda r: len(r) >= 1)
        time.sleep(1.0)  # a non-matching change must not arrive later either
        assert len(receiver.received) == 1
        note = got[0]
        assert note["headers"]["authorization"] == "Bearer secret-1"
        assert note["headers"]["content-type"].startswith("application/fhir+json")
        assert note["body"]["id"] == created["id"]
        assert note["body"]["valueQuantity"]["value"] == 72


def test_payload_none_posts_an_empty_notification(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        c.post("/Subscription", json=_subscription(receiver.url, "Patient?family=Pingme", payload=None),
               headers=FHIR_JSON)
        c.post("/Patient", json=patient("Pingme"), headers=FHIR_JSON)
        got = receiver.wait_for(lambda r: len(r) >= 1)
        assert got[0]["body"] is None


def test_failing_endpoint_sets_error_then_recovers_keeping_order(sub_server: LiveServer, receiver: Receiver) -> None:
    receiver.fail_next = 4
    with sub_server.client() as c:
        sub = c.post("/Subscription", json=_subscription(receiver.url, "Patient?family=Orderly"),
                     headers=FHIR_JSON).json()
        pat = c.post("/Patient", json=patient("Orderly"), headers=FHIR_JSON).json()
        for i in range(5):
            pat["name"][0]["given"] = [f"v{i + 2}"]
            pat = c.put(f"/Patient/{pat['id']}", json=pat, headers=FHIR_JSON).json()
        # while the endpoint fails, the Subscription says so
        deadline = time.time() + 30
        seen_error = False
        while time.time() < deadline and not seen_error:
            current = c.get(f"/Subscription/{sub['id']}").json()
            seen_error = current["status"] == "error" and "500" in current.get("error", "")
            time.sleep(0.05)
        assert seen_error
        got = receiver.wait_for(lambda r: len(r) >= 6)
        versions = [int(n["body"]["meta"]["versionId"]) for n in got]
        assert versions == sorted(versions) and set(versions) == {1, 2, 3, 4, 5, 6}
        deadline = time.time() + 10
        while c.get(f"/Subscription/{sub['id']}").json()["status"] != "active":
            assert time.time() < deadline
            time.sleep(0.1)
        assert "error" not in c.get(f"/Subscription/{sub['id']}").json()


def test_deleted_subscription_stops_notifications(sub_server: LiveServer, receiver: Receiver) -> None:
    with sub_server.client() as c:
        sub = c.post("/Subscription", json=_subscription(receiver.url, "Patient?family=Stopper"),
                     headers=FHIR_JSON).json()
        c.post("/Patient", json=patient("Stopper"), headers=FHIR_JSON)
        receiver.wait_for(lambda r: len(r) == 1)
        c.delete(f"/Subscription/{sub['id']}")
        c.post("/Patient", json=patient("Stopper"), headers=FHIR_JSON)
        time.sleep(1.5)
        assert len(receiver.received) == 1
