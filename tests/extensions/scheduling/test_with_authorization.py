"""The scheduling operations with SMART authorization on: a patient-scoped app finds, holds, books and cancels
for its own patient only; the server itself releases other patients' expired holds; the ZocDoc
webhook (signed, not bearer-authenticated) still gets through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from extensions.scheduling.webhook import install
from fhir_server.config import Settings
from smart_auth.cli import mint
from tests.conftest import Database, LiveServer
from tests.extensions.scheduling.clinic import Clinic, at, iso, params
from tests.fixtures.fake_zocdoc import WEBHOOK_KEY, FakeZocDoc

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def secured(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), auth_enabled=True, zocdoc_webhook_key=WEBHOOK_KEY)
    install(server.app)
    server.start()
    yield server
    server.stop()


def token(server: LiveServer, scope: str, patient: str | None = None) -> str:
    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(server.db.url, autocommit=True) as conn:
            return await mint(conn, Settings(), scope, server.base, 600, patient, None)
    return str(asyncio.run(go()))


def client(server: LiveServer, access_token: str) -> httpx.Client:
    return server.client(headers={**FHIR, "Authorization": f"Bearer {access_token}"})


def test_a_patient_app_books_for_its_own_patient_only(secured: LiveServer) -> None:
    with client(secured, token(secured, "user/*.cruds")) as admin:
        k = Clinic(admin, 12.97, 77.59)
        mine, other_slot, lapsing = k.slot(at(4, 9)), k.slot(at(4, 10)), k.slot(at(4, 11))
        me = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Me"}]}).json()["id"]
        other = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Other"}]}).json()["id"]
        soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lapsed = admin.post("/Appointment/$hold", json=params(("slot", f"Slot/{lapsing}"),
                                                              ("patient", f"Patient/{other}"),
                                                              ("expires", ("valueInstant", soon))))
        assert lapsed.status_code == 201, lapsed.text
    assert httpx.get(secured.base + "/Appointment/$find").status_code == 401
    time.sleep(2.5)
    with client(secured, token(secured, "patient/*.cruds", patient=me)) as app:
        window = {"practitioner": k.practitioner, "start": iso(at(4)), "end": iso(at(5))}
        found = app.get("/Appointment/$find", params=window)
        assert found.status_code == 200, found.text
        offered = {e["resource"]["slot"][0]["reference"] for e in found.json()["entry"]
                   if e["search"]["mode"] == "match"}
        assert offered == {f"Slot/{mine}", f"Slot/{other_slot}", f"Slot/{lapsing}"}  # the lapsed hold released
        held = app.post("/Appointment/$hold", json=params(("slot", f"Slot/{mine}"), ("patient", f"Patient/{me}")))
        assert held.status_code == 201, held.text
        assert app.post(f"/Appointment/{held.json()['id']}/$book").status_code == 200
        for_other = app.post("/Appointment/$book", json=params(("slot", f"Slot/{other_slot}"),
                                                               ("patient", f"Patient/{other}")))
        assert for_other.status_code == 403, for_other.text
        assert app.post(f"/Appointment/{held.json()['id']}/$cancel").status_code == 200
    with client(secured, token(secured, "user/*.cruds")) as admin:
        assert admin.get(f"/Slot/{other_slot}").json()["status"] == "free"
        assert admin.get(f"/Slot/{mine}").json()["status"] == "free"


def test_the_webhook_needs_no_bearer_token(secured: LiveServer) -> None:
    resp = FakeZocDoc().send_webhook(secured.base + "/webhooks/zocdoc", FakeZocDoc().event("x"),
                                     timestamp=int(time.time()) - 1000)
    assert resp.status_code == 401 and "webhook-timestamp" in resp.json()["issue"][0]["diagnostics"]
    assert "WWW-Authenticate" not in resp.headers  # refused by the signature check, not by the bearer guard
