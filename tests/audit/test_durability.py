"""The audit trail is "written asynchronously but never lost" (issue 8): facts are durable before the
response (a read is withheld with 503 when its fact cannot be stored), a server killed with facts
still queued loses none (another process turns them into AuditEvents, each exactly once), the
FHIR_AUDIT modes record what they say, and the retention setting removes old AuditEvents."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.audit.conftest import ServerProcess, subtypes
from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient


@pytest.fixture()
def db(pg_admin_url: str) -> Iterator[Database]:
    yield Database(pg_admin_url)


def _until(check: object, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not check():  # type: ignore[operator]
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def _events(c: httpx.Client, **params: str) -> list[dict]:
    resp = c.get("/AuditEvent", params={"_count": "500", **params})
    assert resp.status_code == 200, resp.text
    return [e["resource"] for e in resp.json().get("entry", [])]


def test_a_killed_server_loses_no_audit_fact(db: Database) -> None:
    first = ServerProcess(db)
    try:
        with first.client() as c:
            ids = []
            for _ in range(30):
                made = c.post("/Observation", json={"resourceType": "Observation", "status": "final",
                                                    "code": {"text": "durable"}}, headers=FHIR_JSON)
                assert made.status_code == 201
                ids.append(made.json()["id"])
            for oid in ids:
                assert c.get(f"/Observation/{oid}").status_code == 200
        first.kill()  # right after the last answer: its facts are queued, or being turned into AuditEvents
    finally:
        first.stop()
    assert db.execute("SELECT count(*) FROM audit_queue")[0][0] > 0
    second = ServerProcess(db)
    try:
        _until(lambda: db.execute("SELECT count(*) FROM audit_queue")[0][0] == 0)
        with second.client() as c:
            for oid in ids:
                found = _events(c, entity=f"Observation/{oid}")
                assert sorted((e["action"], subtypes(e)[0]) for e in found) == [("C", "create"), ("R", "read")], oid
    finally:
        second.stop()


def test_a_read_is_withheld_when_its_fact_cannot_be_stored(db: Database) -> None:
    server = LiveServer(db).start()
    try:
        with server.client() as c:
            pid = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
            db.execute("ALTER TABLE audit_queue ADD CONSTRAINT refuse_requests CHECK (kind <> 'request') NOT VALID")
            try:
                resp = c.get(f"/Patient/{pid}")
                assert_outcome(resp, 503, "transient")
                assert pid not in resp.text
                assert c.post("/Patient", json=patient(), headers=FHIR_JSON).status_code == 201  # writes: own fact
            finally:
                db.execute("ALTER TABLE audit_queue DROP CONSTRAINT refuse_requests")
            assert c.get(f"/Patient/{pid}").status_code == 200
    finally:
        server.stop()


def test_audit_modes(pg_admin_url: str) -> None:
    writes_db, off_db = Database(pg_admin_url), Database(pg_admin_url)
    writes = LiveServer(writes_db, audit="writes").start()
    off = LiveServer(off_db, audit="off").start()
    try:
        for server in (writes, off):
            with server.client() as c:
                pid = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
                assert c.get(f"/Patient/{pid}").status_code == 200
                assert c.get("/Patient", params={"_id": pid}).status_code == 200
                assert c.get("/Patient/not-there").status_code == 404
        assert off_db.execute("SELECT count(*) FROM audit_queue") == [(0,)]  # no write fact either
        with writes.client() as c:
            _until(lambda: len(_events(c)) >= 2)
            time.sleep(1.5)
            found = sorted((e["action"], subtypes(e)[0], e["outcome"]) for e in _events(c))
        assert found == [("C", "create", "0"), ("R", "read", "4")]  # the write and the failure, no reads
        time.sleep(1.5)
        with off.client() as c:
            assert _events(c) == []
    finally:
        writes.stop()
        off.stop()


def test_retention_removes_old_audit_events(db: Database) -> None:
    old_fact = '{"kind": "rest", "code": "read", "type": "Patient", "id": "seen-long-ago", "status": 200}'
    keeping = LiveServer(db).start()  # retention off: every AuditEvent is kept
    try:
        db.execute("INSERT INTO audit_queue (created, kind, data) VALUES (now() - interval '40 days', 'request', %s)",
                   (old_fact,))
        with keeping.client() as c:
            pid = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
            _until(lambda: len(_events(c, entity="Patient/seen-long-ago")) == 1 and
                   len(_events(c, entity=f"Patient/{pid}")) == 1)
            recent = _events(c, entity=f"Patient/{pid}")[0]["id"]
            old = _events(c, entity="Patient/seen-long-ago")[0]
            assert old["recorded"] < time.strftime("%Y-%m-%d", time.gmtime(time.time() - 39 * 86400))
    finally:
        keeping.stop()
    purging = LiveServer(db, audit_retention_days=30, audit_purge_seconds=0.5).start()
    try:
        with purging.client() as c:
            _until(lambda: c.get(f"/AuditEvent/{old['id']}").status_code == 404)
            assert _events(c, entity="Patient/seen-long-ago") == []
            assert c.get(f"/AuditEvent/{recent}").status_code == 200
    finally:
        purging.stop()


def test_odd_input_neither_fails_a_request_nor_stalls_the_trail(pg_admin_url: str) -> None:
    """NUL characters (which PostgreSQL text cannot hold) in a query still get their AuditEvent."""
    server = LiveServer(Database(pg_admin_url)).start()
    try:
        with server.client() as c:
            assert c.get("/Patient", params={"_id": "\x00", "patient": "Patient/\x00"}).status_code < 500
            pid = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
            _until(lambda: len(_events(c, entity=f"Patient/{pid}")) == 1)  # the queue moves on
            odd = [e for e in _events(c, action="E") if "\ufffd" in str(e)]
            assert odd, "the odd request was audited too"
    finally:
        server.stop()


def test_without_synchronous_commit_every_read_is_still_recorded(pg_admin_url: str) -> None:
    server = LiveServer(Database(pg_admin_url), audit_sync_commit=False).start()
    try:
        with server.client() as c:
            pid = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
            for _ in range(5):
                assert c.get(f"/Patient/{pid}").status_code == 200
            _until(lambda: len(_events(c, entity=f"Patient/{pid}", action="R")) == 5)
    finally:
        server.stop()
