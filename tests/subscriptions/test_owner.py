"""A subscription notifies only of what its creator's access token could see (SMART scopes + compartment)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, patient
from tests.smart_auth.conftest import bearer, token
from tests.subscriptions.receiver import Receiver

LOINC = "http://loinc.org"


@pytest.fixture()
def secured(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), auth_enabled=True, delivery_max_backoff=0.5).start()
    yield server
    server.stop()


def _obs(pid: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": "1-1"}]},
            "subject": {"reference": f"Patient/{pid}"}}


def test_patient_scoped_subscription_sees_only_its_patient(secured: LiveServer, receiver: Receiver) -> None:
    admin = bearer(token(secured, "system/*.cruds"), **FHIR_JSON)
    with secured.client() as c:
        a = c.post("/Patient", json=patient("Owner"), headers=admin).json()["id"]
        b = c.post("/Patient", json=patient("Other"), headers=admin).json()["id"]
        app = bearer(token(secured, "patient/Observation.rs user/Subscription.cruds", patient=a), **FHIR_JSON)
        sub = {"resourceType": "Subscription", "status": "requested", "reason": "mine",
               "criteria": f"Observation?code={LOINC}|1-1",
               "channel": {"type": "rest-hook", "endpoint": receiver.url, "payload": "application/fhir+json"},
               # a client cannot claim someone else's (or no) restriction: the server records the token's
               "meta": {"extension": [{"url": "urn:fhir-server:subscription-owner", "valueString": "{}"}]}}
        created = c.post("/Subscription", json=sub, headers=app)
        assert created.status_code == 201, created.text
        c.post("/Observation", json=_obs(b), headers=admin)
        mine = c.post("/Observation", json=_obs(a), headers=admin).json()
        c.post("/Observation", json=_obs(b), headers=admin)
        got = receiver.wait_for(lambda r: len(r) >= 1)
        time.sleep(1.5)
        assert [n["body"]["id"] for n in receiver.received] == [mine["id"]]
        assert got[0]["body"]["subject"]["reference"] == f"Patient/{a}"


def test_websocket_needs_a_token_when_authorization_is_on(secured: LiveServer) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused, connect(f"ws://127.0.0.1:{secured.port}/websocket",
                                                          open_timeout=10):
        pass
    assert refused.value.response.status_code in (401, 403)
    tok = token(secured, "system/*.cruds")
    with connect(f"ws://127.0.0.1:{secured.port}/websocket?access_token={tok}", open_timeout=10) as ws:
        ws.send("bind nothing-here")
        assert ws.recv(timeout=10).startswith("error")

