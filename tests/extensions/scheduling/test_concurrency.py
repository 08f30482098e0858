"""$book is atomic across server processes (issue 7): 50 concurrent bookings of one slot, spread over three
servers on one PostgreSQL (this test process and two ``fhir-server serve`` processes), make exactly
one booking; the 49 others get 409 with an OperationOutcome."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import LiveServer
from tests.extensions.scheduling.clinic import Clinic, at, params, patient, read
from tests.fixtures.serve import free_port
from tests.helpers import FHIR_JSON

N = 50


class ProcessServer:
    """``fhir-server serve`` in its own OS process."""

    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="fhir-serve-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "DATABASE_URL": database_url, "FHIR_AUTH_DISABLED": "1", "FHIR_DB_POOL_MAX": "8"}
        self.proc = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=env, stdout=self.log, stderr=self.log)

    def wait(self) -> ProcessServer:
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server process exited; see {self.log.name}")
            try:
                if httpx.get(self.base + "/metadata", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server process did not start; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def bases(sched: LiveServer) -> Iterator[list[str]]:
    others = [ProcessServer(sched.db.url) for _ in range(2)]
    try:
        yield [sched.base] + [p.wait().base for p in others]
    finally:
        for p in others:
            p.stop()


def _race(bases: list[str], calls: list[tuple[str, dict[str, object]]]) -> list[httpx.Response]:
    """All calls (path, Parameters) at once, spread over the servers."""
    clients = [httpx.Client(base_url=bases[i % len(bases)], timeout=120) for i in range(len(calls))]
    for cl in clients:
        cl.get("/metadata")  # connect before the start line
    start = threading.Barrier(len(calls))

    def attempt(i: int) -> httpx.Response:
        start.wait()
        return clients[i].post(calls[i][0], json=calls[i][1], headers=FHIR_JSON)

    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(attempt, range(len(calls))))
    finally:
        for cl in clients:
            cl.close()


def _conflicts(results: list[httpx.Response]) -> int:
    n = 0
    for r in results:
        if r.status_code == 409:
            body = r.json()
            assert r.headers["content-type"].startswith("application/fhir+json")
            assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "conflict"
            n += 1
    return n


def test_fifty_concurrent_bookings_of_one_slot(sched: LiveServer, c: httpx.Client, bases: list[str]) -> None:
    k = Clinic(c, 1.35, 103.82)
    slot = k.slot(at(8, 9))
    calls = [("/Appointment/$book", params(("slot", f"Slot/{slot}"), ("patient", f"Patient/{patient(c)}")))
             for _ in range(N)]
    results = _race(bases, calls)
    assert sorted({r.status_code for r in results}) == [201, 409], [r.text for r in results if r.status_code >= 500]
    assert [r.status_code for r in results].count(201) == 1
    assert _conflicts(results) == N - 1
    winner = next(r.json() for r in results if r.status_code == 201)
    assert read(c, f"Slot/{slot}")["status"] == "busy"
    rows = sched.db.execute(
        "SELECT id, content->>'status' FROM resource WHERE res_type = 'Appointment' AND NOT deleted "
        "AND content->'slot' @> %s::jsonb", (f'[{{"reference": "Slot/{slot}"}}]',))
    assert rows == [(winner["id"], "booked")]
    assert sched.db.execute("SELECT appointment_id, kind FROM scheduling_claim WHERE slot_id = %s",
                            (slot,)) == [(winner["id"], "booked")]


def test_fifty_concurrent_holds_and_bookings_of_one_slot(sched: LiveServer, c: httpx.Client,
                                                          bases: list[str]) -> None:
    """Holds and direct bookings racing for one slot: one of them gets it."""
    k = Clinic(c, 1.36, 103.83)
    slot = k.slot(at(8, 10))
    calls = [("/Appointment/$hold" if i % 2 else "/Appointment/$book",
              params(("slot", f"Slot/{slot}"), ("patient", f"Patient/{patient(c)}"))) for i in range(N)]
    results = _race(bases, calls)
    assert [r.status_code for r in results].count(201) == 1
    assert _conflicts(results) == N - 1
    taken = sched.db.execute("SELECT count(*) FROM scheduling_claim WHERE slot_id = %s", (slot,))
    assert taken == [(1,)]


def test_serve_mounts_the_zocdoc_webhook(bases: list[str]) -> None:
    """``fhir-server serve`` answers the webhook path itself (here without a key: 404 saying so)."""
    resp = httpx.post(bases[1] + "/webhooks/zocdoc", content=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 404 and "ZOCDOC_WEBHOOK_KEY" in resp.json()["issue"][0]["diagnostics"]
