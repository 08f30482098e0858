"""/metrics: requests counted by FHIR interaction (R4 restful-interaction codes, http.html#summary), type and
status; latency histograms; database pool usage; outbox backlog and lag."""

from __future__ import annotations

import time
import uuid

import httpx
import psycopg

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, patient
from tests.observability.prom import requests, scrape, value


def _create(client: httpx.Client, resource: dict[str, object]) -> dict[str, object]:
    resp = client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    return body


def test_each_interaction_is_counted_under_its_restful_interaction_code(client: httpx.Client) -> None:
    before = scrape(client)
    pid = _create(client, patient())["id"]
    calls = [  # (method, path, interaction, type, operation)
        ("GET", f"/Patient/{pid}", "read", "Patient", ""),
        ("GET", f"/Patient/{pid}/_history/1", "vread", "Patient", ""),
        ("GET", f"/Patient/{pid}/_history", "history-instance", "Patient", ""),
        ("GET", "/Patient/_history?_count=1", "history-type", "Patient", ""),
        ("GET", "/_history?_count=1", "history-system", "", ""),
        ("GET", f"/Patient?_id={pid}", "search-type", "Patient", ""),
        ("POST", "/Patient/_search", "search-type", "Patient", ""),
        ("GET", f"/?_id={pid}", "search-system", "", ""),
        ("GET", f"/Patient/{pid}/Observation", "search-compartment", "Observation", ""),
        ("GET", "/metadata", "capabilities", "", ""),
        ("GET", f"/Patient/{pid}/$everything", "operation", "Patient", "everything"),
        ("PUT", f"/Patient/{pid}", "update", "Patient", ""),
        ("PATCH", f"/Patient/{pid}", "patch", "Patient", ""),
        ("DELETE", f"/Patient/{pid}", "delete", "Patient", ""),
        ("GET", f"/Patient/{pid}", "read", "Patient", ""),  # now 410 Gone
    ]
    bodies = {
        "PUT": {"json": {**patient(), "id": pid}, "headers": FHIR_JSON},
        "PATCH": {"json": [{"op": "replace", "path": "/gender", "value": "male"}],
                  "headers": {"Content-Type": "application/json-patch+json"}},
        "POST": {"content": f"_id={pid}", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    }
    answered: list[tuple[int, str, str, str]] = []
    for method, path, interaction, res_type, op in calls:
        resp = client.request(method, path, **bodies.get(method, {}))  # type: ignore[arg-type]
        assert resp.status_code < 500 and resp.status_code not in (400, 404, 405), (path, resp.text)
        answered.append((resp.status_code, interaction, res_type, op))
    assert answered[-1][0] == 410
    after = scrape(client)
    assert requests(after, "create", "Patient", 201) == requests(before, "create", "Patient", 201) + 1
    for status, interaction, res_type, op in set(answered):
        expected = answered.count((status, interaction, res_type, op))
        got = requests(after, interaction, res_type, status, op) - requests(before, interaction, res_type, status, op)
        assert got == expected, (interaction, res_type, status)
    count = value(after, "fhir_request_duration_seconds_count", interaction="read", type="Patient", operation="")
    assert count >= 2
    buckets = [v for (name, labels), v in after.items() if name == "fhir_request_duration_seconds_bucket"
               and ("interaction", "read") in labels and ("type", "Patient") in labels]
    assert buckets and max(buckets) == count  # the +Inf bucket holds every observation


def test_batch_and_transaction_are_counted(client: httpx.Client) -> None:
    before = scrape(client)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "metadata"}}]}
    assert client.post("/", json=bundle, headers=FHIR_JSON).status_code == 200
    after = scrape(client)
    assert requests(after, "batch-or-transaction") == requests(before, "batch-or-transaction") + 1


def test_labels_stay_bounded_whatever_the_url_says(client: httpx.Client) -> None:
    """Resource types and operation names the server does not know are not copied into labels."""
    junk = "Junk" + uuid.uuid4().hex
    assert client.get(f"/{junk}/1").status_code == 404
    assert client.get(f"/Patient/$no-such-op-{junk}").status_code == 404
    assert client.get(f"/{junk}/1/2/3/4/5").status_code == 404
    text = client.get("/metrics").text
    assert junk not in text
    samples = scrape(client)
    assert requests(samples, "read", "unknown", 404) >= 1
    assert requests(samples, "operation", "Patient", 404, "unknown") >= 1
    assert requests(samples, "unmatched", "", 404) >= 1


def test_pool_gauges_describe_the_connection_pool(client: httpx.Client, live: LiveServer) -> None:
    samples = scrape(client)
    size = value(samples, "fhir_db_pool_size", pool="primary")
    assert value(samples, "fhir_db_pool_max_size", pool="primary") == live.settings.pool_max
    assert 1 <= size <= live.settings.pool_max
    assert 0 <= value(samples, "fhir_db_pool_in_use", pool="primary") <= size
    assert value(samples, "fhir_db_pool_idle", pool="primary") + value(samples, "fhir_db_pool_in_use", pool="primary") \
        == size
    assert value(samples, "fhir_db_pool_requests_total", pool="primary") >= 1
    assert value(samples, "fhir_database_up") == 1
    assert value(samples, "fhir_server_info", version="0.1.0", fhir_version="4.0.1") == 1


def test_outbox_lag_grows_while_changes_wait_and_falls_when_they_are_delivered(fresh: LiveServer) -> None:
    """Hold the dispatchers' fan-out lock (what a busy or stuck dispatcher does): changes pile up, and age."""
    from fhir_server.events.dispatcher import FANOUT_LOCK

    with fresh.client() as client, psycopg.connect(fresh.db.url, autocommit=True) as blocker:
        blocker.execute("SELECT pg_advisory_lock(%s)", (FANOUT_LOCK,))
        try:
            _create(client, patient())
            _create(client, patient())
            time.sleep(1.2)
            stuck = scrape(client)
            assert value(stuck, "fhir_outbox_pending") >= 2
            assert value(stuck, "fhir_outbox_lag_seconds") >= 1.0
        finally:
            blocker.execute("SELECT pg_advisory_unlock(%s)", (FANOUT_LOCK,))
        deadline = time.time() + 30
        while True:
            drained = scrape(client)
            if value(drained, "fhir_outbox_pending") == 0:
                break
            assert time.time() < deadline, "the outbox was not drained"
            time.sleep(0.3)
        assert value(drained, "fhir_outbox_lag_seconds") == 0


def test_scrapes_and_probes_are_not_counted_as_fhir_requests(client: httpx.Client) -> None:
    before = scrape(client)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    after = scrape(client)
    total = sum(v for (name, _), v in after.items() if name == "fhir_requests_total")
    assert total == sum(v for (name, _), v in before.items() if name == "fhir_requests_total")
