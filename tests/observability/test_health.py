"""/healthz (alive, no database) and /readyz (database reachable, every shipped migration applied; 503
OperationOutcome otherwise), reachable without a token; the probes never answer 500."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from fhir_server.storage.db import migrate, migration_files
from tests.conftest import Database, LiveServer
from tests.helpers import assert_outcome


def test_healthz_and_readyz_pass(client: httpx.Client) -> None:
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.headers["content-type"].startswith("application/health+json")
    assert alive.json() == {"status": "pass"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "pass"
    assert body["checks"]["postgresql:migrations"][0]["observedValue"] >= len(migration_files())
    assert client.head("/healthz").status_code == 200


def test_probes_refuse_other_methods_with_an_operation_outcome(client: httpx.Client) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        resp = client.post(path, content=b"{}")
        assert_outcome(resp, 405, "not-supported")
        assert "GET" in resp.headers["allow"]


def test_readyz_says_which_migration_is_missing(fresh: LiveServer) -> None:
    version, name, _ = migration_files()[-1]
    with fresh.client() as client:
        fresh.db.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))
        try:
            body = assert_outcome(client.get("/readyz"), 503, "incomplete")
            assert name in body["issue"][0]["diagnostics"]
            assert client.get("/healthz").status_code == 200  # alive all the same
        finally:
            fresh.db.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        assert client.get("/readyz").status_code == 200


@pytest.fixture()
def closed_database(pg_admin_url: str) -> Iterator[tuple[LiveServer, str]]:
    server = LiveServer(Database(pg_admin_url)).start()
    yield server, pg_admin_url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{server.db.name}" ALLOW_CONNECTIONS true')
    server.stop()


def test_readyz_is_503_while_the_database_refuses_connections(closed_database: tuple[LiveServer, str]) -> None:
    server, admin = closed_database
    with server.client() as client, psycopg.connect(admin, autocommit=True) as conn:
        assert client.get("/readyz").status_code == 200
        conn.execute(f'ALTER DATABASE "{server.db.name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                     "pg_backend_pid()", (server.db.name,))
        body = assert_outcome(client.get("/readyz"), 503)
        assert body["issue"][0]["code"] in ("transient", "timeout")
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "fhir_database_up 0.0" in metrics.text
        conn.execute(f'ALTER DATABASE "{server.db.name}" ALLOW_CONNECTIONS true')
        deadline = time.time() + 30
        while client.get("/readyz").status_code != 200:
            assert time.time() < deadline, "readiness did not come back with the database"
            time.sleep(0.5)


def test_public_without_a_token_when_authorization_is_on(pg_admin_url: str) -> None:
    server = LiveServer(Database(pg_admin_url), auth_enabled=True).start()
    try:
        with server.client() as client:
            assert client.get("/Patient").status_code == 401
            for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
                assert client.get(path).status_code == 200, path
            doc = client.get("/openapi.json").json()
            assert doc["security"] == [{"smart": []}]
            assert doc["components"]["securitySchemes"]["smart"]["scheme"] == "bearer"
            assert doc["paths"]["/healthz"]["get"]["security"] == []
    finally:
        server.stop()


def test_odd_requests_to_the_observability_paths_never_fail(client: httpx.Client) -> None:
    odd = [
        ("GET", "/metrics?name[]=x&%ff=%00", {}),
        ("HEAD", "/metrics", {}),
        ("GET", "/openapi.json?_format=xml", {"Accept": "application/fhir+xml"}),
        ("GET", "/readyz/", {}),
        ("GET", "/healthz?verbose=1", {"X-Request-ID": "\x7f\x01"}),
        ("OPTIONS", "/readyz", {}),
        ("DELETE", "/openapi.json", {}),
        ("GET", "//metrics", {}),
    ]
    for method, path, headers in odd:
        resp = client.request(method, path, headers=headers)
        assert resp.status_code < 500, (method, path, resp.status_code, resp.text[:200])


def test_readyz_checks_the_read_replica_too(pg_admin_url: str) -> None:
    """DATABASE_READ_URL (here a second, migrated database standing in for a streaming replica)."""
    replica = Database(pg_admin_url)
    migrate(replica.url)
    server = LiveServer(Database(pg_admin_url), database_read_url=replica.url).start()
    try:
        with server.client() as client, psycopg.connect(pg_admin_url, autocommit=True) as conn:
            ready = client.get("/readyz")
            assert ready.status_code == 200 and "postgresql-replica:connection" in ready.json()["checks"]
            assert 'fhir_db_pool_size{pool="replica"}' in client.get("/metrics").text
            conn.execute(f'ALTER DATABASE "{replica.name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (replica.name,))
            try:
                body = assert_outcome(client.get("/readyz"), 503, "transient")
                assert "replica" in body["issue"][0]["diagnostics"]
            finally:
                conn.execute(f'ALTER DATABASE "{replica.name}" ALLOW_CONNECTIONS true')
    finally:
        server.stop()


def test_metrics_token_guards_the_scrape(pg_admin_url: str) -> None:
    """With FHIR_METRICS_TOKEN set, /metrics answers only a scrape presenting it as a Bearer token
    (RFC 6750 challenge otherwise); the other probes stay public, and the OpenAPI document says so."""
    server = LiveServer(Database(pg_admin_url), metrics_token="scrape-secret").start()
    try:
        with server.client() as client:
            refused = client.get("/metrics")
            assert_outcome(refused, 401, "login")
            assert refused.headers["www-authenticate"].startswith("Bearer")
            for wrong in ("Bearer scrape-secreT", "Basic scrape-secret", "Bearer", "Bearer scrape-secret2"):
                assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401
            scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
            assert scraped.status_code == 200 and "fhir_requests_total" in scraped.text
            assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
            doc = client.get("/openapi.json").json()
            assert doc["paths"]["/metrics"]["get"]["security"] == [{"metricsToken": []}]
            assert doc["components"]["securitySchemes"]["metricsToken"]["scheme"] == "bearer"
    finally:
        server.stop()
