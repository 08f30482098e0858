"""Test fixtures: a real PostgreSQL (embedded by default) and the real app served over HTTP on 127.0.0.1.

``TEST_DATABASE_URL`` points the tests at an existing PostgreSQL server instead of the embedded one
(each test session creates its own databases there and drops them afterwards).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from fhir_server.app import create_app
from fhir_server.config import Settings


def _admin_url(tmp_root: Path) -> tuple[str, Any]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url, None
    from fhir_server.storage.embedded import start_embedded

    return start_embedded(tmp_root, cleanup="delete"), None


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="fhir-test-"))
    # atexit runs last-registered first: the embedded server (registered in _admin_url) is deleted, then this folder
    atexit.register(shutil.rmtree, root, True)
    url, _ = _admin_url(root)
    yield url


class Database:
    """A fresh database on the test server; dropped at the end of the session."""

    def __init__(self, admin_url: str) -> None:
        self.name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        info["dbname"] = self.name
        self.url = psycopg.conninfo.make_conninfo(**info)

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql, args)
            return cur.fetchall() if cur.description else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real ASGI app under uvicorn in a background thread, on a real TCP port."""

    def __init__(self, db: Database, **settings: Any) -> None:
        # Authorization has its own suite (tests/smart_auth, which passes auth_enabled=True); the other
        # suites test the FHIR API itself, so their servers run with authorization explicitly off.
        settings.setdefault("auth_enabled", False)
        self.db = db
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(database_url=db.url, port=self.port, pool_min=1, pool_max=8, **settings)
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=60, **kwargs)


@pytest.fixture(autouse=True)
def _auth_off_outside_auth_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers the non-auth suites start as subprocesses (``fhir-server serve``) read FHIR_AUTH_DISABLED."""
    if "smart_auth" in request.node.path.parts:
        monkeypatch.delenv("FHIR_AUTH_DISABLED", raising=False)
    else:
        monkeypatch.setenv("FHIR_AUTH_DISABLED", "1")


@pytest.fixture(scope="session")
def live(pg_admin_url: str) -> Iterator[LiveServer]:
    """One server for the session (tests must not depend on the database being empty)."""
    server = LiveServer(Database(pg_admin_url)).start()
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client(headers={"Accept": "application/fhir+json"}) as c:
        yield c


@pytest.fixture()
def fresh(pg_admin_url: str) -> Iterator[LiveServer]:
    """A server on its own empty database, for tests that count what is stored (no audit trail adding
    AuditEvents to the count: tests/audit tests it)."""
    server = LiveServer(Database(pg_admin_url), audit="off").start()
    yield server
    server.stop()
