"""At-least-once delivery that survives a receiver outage and a killed server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Database, LiveServer, _free_port
from tests.helpers import FHIR_JSON, patient, wait_until_up
from tests.subscriptions.receiver import Receiver
from tests.subscriptions.test_topics_ws import _params, _parts, _topic_sub


def _event_numbers(received: list[dict]) -> list[int]:
    out = []
    for note in received:
        p = _params(note["body"])
        if p["type"] == ["event-notification"]:
            out += [int(_parts(e)["event-number"]) for e in p.get("notification-event", [])]
    return out


def _batch(family: str, n: int) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(family), "request": {"method": "POST", "url": "Patient"}} for _ in range(n)]}


def test_receiver_down_during_1000_changes_then_up(sub_server: LiveServer) -> None:
    receiver = Receiver()  # not up yet: connections are refused
    try:
        with sub_server.client() as c:
            c.post("/Subscription", json=_topic_sub(receiver.url, "urn:fhir-server:topic:Patient:create",
                                                    "Patient?family=Outage"), headers=FHIR_JSON)
            for _ in range(10):
                assert c.post("/", json=_batch("Outage", 100), headers=FHIR_JSON).status_code == 200
            time.sleep(2)
            receiver.up()
            got = receiver.wait_for(lambda r: set(_event_numbers(r)) >= set(range(1, 1001)), timeout=180)
            numbers = _event_numbers(got)
            assert set(numbers) == set(range(1, 1001))
    finally:
        receiver.down()


class ServerProcess:
    def __init__(self, db: Database) -> None:
        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": db.url, "FHIR_DELIVERY_MAX_BACKOFF": "0.5"}
        self.proc = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(f"http://127.0.0.1:{self.port}/metadata", self.proc, timeout=90, message="server did not start",
                      pause=0.2)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture()
def shared_db(pg_admin_url: str) -> Iterator[Database]:
    yield Database(pg_admin_url)


def test_killing_a_server_mid_dispatch_loses_no_event(shared_db: Database) -> None:
    receiver = Receiver()
    first = ServerProcess(shared_db)
    try:
        with first.client() as c:
            sub = c.post("/Subscription", json=_topic_sub(receiver.url, "urn:fhir-server:topic:Patient",
                                                          "Patient?family=Crash"), headers=FHIR_JSON).json()
            assert sub["status"] == "active"
            for _ in range(3):
                assert c.post("/", json=_batch("Crash", 100), headers=FHIR_JSON).status_code == 200
        first.kill()  # the receiver is down: every event is queued or still in the outbox
        queued = shared_db.execute(
            "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM subscription_delivery)")
        assert queued[0][0] > 0
        receiver.up()
        second = ServerProcess(shared_db)
        try:
            got = receiver.wait_for(lambda r: set(_event_numbers(r)) >= set(range(1, 301)), timeout=180)
            assert set(_event_numbers(got)) == set(range(1, 301))
        finally:
            second.stop()
    finally:
        first.stop()
        receiver.down()
