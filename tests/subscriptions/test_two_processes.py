"""Two server processes on one database behave as one server for subscriptions (issue: scale-out):
changes written through either process reach a subscription made through the other, every event
once in the subscription's numbering, in order per resource."""

from __future__ import annotations

from collections import defaultdict

from tests.conftest import Database
from tests.helpers import FHIR_JSON
from tests.subscriptions.receiver import Receiver
from tests.subscriptions.test_durability import ServerProcess, _batch
from tests.subscriptions.test_durability import shared_db as shared_db  # the fixture
from tests.subscriptions.test_topics_ws import _params, _parts, _topic_sub


def _events(received: list[dict]) -> list[tuple[int, str]]:
    """(event number, focus reference) of every event notified, in the order they arrived."""
    out = []
    for note in received:
        p = _params(note["body"])
        if p["type"] == ["event-notification"]:
            for e in p.get("notification-event", []):
                parts = _parts(e)
                out.append((int(parts["event-number"]), parts["focus"]["reference"]))
    return out


def test_changes_through_either_process_reach_a_subscription(shared_db: Database) -> None:
    receiver = Receiver().up()
    first, second = ServerProcess(shared_db), ServerProcess(shared_db)
    try:
        with first.client() as a, second.client() as b:
            sub = a.post("/Subscription", json=_topic_sub(receiver.url, "urn:fhir-server:topic:Patient",
                                                          "Patient?family=Pair"), headers=FHIR_JSON).json()
            assert sub["status"] == "active"
            created: list[dict] = []
            for client in (a, b, a, b):  # 4 batches of 25 creates, alternating processes
                answer = client.post("/", json=_batch("Pair", 25),
                                     headers={**FHIR_JSON, "Prefer": "return=representation"})
                assert answer.status_code == 200
                created += [e["resource"] for e in answer.json()["entry"]]
            for i, res in enumerate(created):  # each one updated through the process that did not create it
                client = b if (i // 25) % 2 == 0 else a
                res["gender"] = "other"
                assert client.put(f"/Patient/{res['id']}", json=res, headers=FHIR_JSON).status_code == 200
        got = receiver.wait_for(lambda r: {n for n, _ in _events(r)} >= set(range(1, 201)), timeout=180)
        events = _events(got)
        assert {n for n, _ in events} == set(range(1, 201))  # 100 creates + 100 updates, none missing
        per_resource: dict[str, list[int]] = defaultdict(list)
        for number, focus in events:
            ident = "/".join(focus.split("/_history")[0].split("/")[-2:])  # each process names its own base
            if number not in per_resource[ident]:
                per_resource[ident].append(number)
        assert len(per_resource) == 100
        for ident, numbers in per_resource.items():  # the create's event arrives before the update's
            assert len(numbers) == 2 and numbers[0] < numbers[1], (ident, numbers)
        assert sub["id"]
    finally:
        second.stop()
        first.stop()
        receiver.down()
