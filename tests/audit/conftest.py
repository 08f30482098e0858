"""Fixtures for the audit trail tests: a server with authorization on (so that AuditEvents name real
users and clients), accounts with a FHIR identity, tokens, and a poll for AuditEvents (they are
written asynchronously)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Database, LiveServer, _free_port
from tests.smart_auth.conftest import ADMIN, add_user, bearer, create, token

Json = dict[str, Any]
INTERACTION = "http://hl7.org/fhir/restful-interaction"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture(scope="module")
def audited(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), auth_enabled=True, auth_admin_token=ADMIN).start()
    yield server
    server.stop()


class Person:
    """An account whose fhirUser is a Practitioner, and a token for it."""

    def __init__(self, server: LiveServer, scope: str = "user/*.cruds") -> None:
        self.server = server
        admin = token(server, "system/*.cruds")
        prac = create(server, {"resourceType": "Practitioner", "name": [{"family": "Doc" + uuid.uuid4().hex[:6]}]},
                      admin)
        self.ref = f"Practitioner/{prac['id']}"
        self.username = add_user(server, self.ref)
        self.token = token(server, scope, user=self.username)

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.server.base}/{path}", params=params, headers=bearer(self.token), timeout=60)

    def send(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        hdrs = bearer(self.token, **{"Content-Type": "application/fhir+json", **headers})
        return httpx.request(method, f"{self.server.base}/{path}", json=body, headers=hdrs, timeout=60)


def events(server: LiveServer, params: dict[str, str], done: Callable[[list[Json]], bool],
           timeout: float = 30.0) -> list[Json]:
    """AuditEvents matching ``params`` (searched with a system token) once ``done`` holds for them."""
    admin = token(server, "system/AuditEvent.rs")
    deadline = time.time() + timeout
    while True:
        resp = httpx.get(f"{server.base}/AuditEvent", params={"_count": "200", **params}, headers=bearer(admin),
                         timeout=60)
        assert resp.status_code == 200, resp.text
        found = [e["resource"] for e in resp.json().get("entry", []) if not _polling(e["resource"])]
        if done(found) or time.time() > deadline:
            return found
        time.sleep(0.3)


def _polling(event: Json) -> bool:
    """The record of this helper's own search for AuditEvents (audited like any search)."""
    return any(str(e.get("description", "")).startswith("GET /AuditEvent?") for e in event.get("entity", []))


def subtypes(event: Json) -> list[str]:
    return [c["code"] for c in event.get("subtype", [])]


def whats(event: Json) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e]


def user_agent(event: Json) -> Json:
    users = [a for a in event["agent"] if a["type"]["coding"][0]["code"] == "humanuser"]
    assert len(users) == 1, event["agent"]
    return users[0]


def client_agent(event: Json) -> Json:
    apps = [a for a in event["agent"] if a["type"]["coding"][0] == {"system": DCM, "code": "110150",
                                                                    "display": "Application"}]
    assert len(apps) == 1, event["agent"]
    return apps[0]


class ServerProcess:
    """``fhir-server serve`` as its own process on a shared database (killable like a crashed server)."""

    def __init__(self, db: Database, auth: bool = False, args: tuple[str, ...] = (), verify: Any = True,
                 **env: str) -> None:
        self.db = db
        self.port = _free_port()
        self.base = f"{'https' if '--ssl-certfile' in args else 'http'}://127.0.0.1:{self.port}"
        self.verify = verify
        environ = {**os.environ, "DATABASE_URL": db.url, **env}
        environ.pop("FHIR_AUTH_DISABLED", None)
        if not auth:
            environ["FHIR_AUTH_DISABLED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(self.port), *args],
            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{self.base}/metadata", timeout=5, verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline and self.proc.poll() is None, "the server did not start"
            time.sleep(0.2)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=60, verify=self.verify)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
