"""Fixtures for the Bulk Data tests: real servers on real PostgreSQL over HTTP, the Synthea bundles loaded
with their ids kept (PUT), and what an export must hold computed from the raw bundles alone.

The raw bundles refer to each other's entries by ``urn:uuid:`` fullUrls; a transaction replaces
those references by ``[type]/[id]`` (R4 http.html#trules), and the server stamps ``meta.versionId``
and ``meta.lastUpdated``: ``expected_resources`` applies exactly these two rules to the raw data.
"""

from __future__ import annotations

import copy
import gzip
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx
import orjson
import pytest

from fhir_server.demo import synthea_files
from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON

Json = dict[str, Any]
Key = tuple[str, str]
SERVER_MADE = {"AuditEvent"}  # written by the server itself (its audit trail), not part of the loaded data


@cache
def raw_bundles() -> tuple[Json, ...]:
    return tuple(orjson.loads(gzip.decompress(f.read_bytes())) for f in synthea_files())


def patient_bundles() -> list[Json]:
    return [b for b in raw_bundles() if any(e["resource"]["resourceType"] == "Patient" for e in b["entry"])]


def _rewrite(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v, refs) for k, v in node.items()}
        if isinstance(out.get("reference"), str) and out["reference"] in refs:
            out["reference"] = refs[out["reference"]]
        return out
    if isinstance(node, list):
        return [_rewrite(v, refs) for v in node]
    return node


def stored_form(bundle: Json) -> list[Json]:
    """The bundle's resources as a transaction stores them: urn:uuid references → [type]/[id]."""
    refs = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    return [_rewrite(e["resource"], refs) for e in bundle["entry"]]


def expected_resources(bundles: list[Json] | tuple[Json, ...]) -> dict[Key, Json]:
    """(type, id) → resource, for bundles loaded in this order (a later copy of a resource wins)."""
    out: dict[Key, Json] = {}
    for b in bundles:
        for r in stored_form(b):
            out[(r["resourceType"], r["id"])] = r
    return out


def without_server_meta(resource: Json) -> Json:
    out = copy.deepcopy(resource)
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta.pop("versionId", None)
        meta.pop("lastUpdated", None)
        if not meta:
            del out["meta"]
    return out


def as_put(bundle: Json) -> Json:
    """The transaction Bundle with PUT [type]/[id] entries, so the server keeps the bundle's ids."""
    out = copy.deepcopy(bundle)
    for e in out["entry"]:
        r = e["resource"]
        e["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
    return out


def load(client: httpx.Client, bundles: list[Json] | tuple[Json, ...], headers: dict[str, str] | None = None) -> None:
    for b in bundles:
        resp = client.post("/", content=orjson.dumps(as_put(b)), headers={**FHIR_JSON, **(headers or {})})
        assert resp.status_code == 200, resp.text[:500]


class Bulk:
    """A Bulk Data client: kick-off, poll, download."""

    def __init__(self, client: httpx.Client, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = {"Accept": "application/fhir+json", **(headers or {})}

    def kick_off(self, path: str, params: Any = None, headers: dict[str, str] | None = None, body: Any = None) -> str:
        """Start an export; the polling URL (Content-Location of the 202)."""
        h = {**self.headers, "Prefer": "respond-async", **(headers or {})}
        if body is None:
            resp = self.client.get(path, params=params, headers=h)
        else:
            resp = self.client.post(path, params=params, content=orjson.dumps(body), headers={**h, **FHIR_JSON})
        assert resp.status_code == 202, resp.text
        assert resp.headers["content-type"].startswith("application/fhir+json")
        assert resp.json()["resourceType"] == "OperationOutcome"
        return str(resp.headers["content-location"])

    def wait(self, url: str, timeout: float = 240, headers: dict[str, str] | None = None) -> httpx.Response:
        """Poll until the job is no longer in progress; every 202 on the way carries X-Progress and Retry-After."""
        deadline = time.time() + timeout
        while True:
            resp = self.client.get(url, headers={"Accept": "application/json", **self.headers, **(headers or {})})
            if resp.status_code != 202:
                return resp
            assert resp.headers["x-progress"] and len(resp.headers["x-progress"]) < 100
            assert resp.headers["retry-after"].isdigit()
            assert time.time() < deadline, f"the job at {url} did not finish in {timeout} s"
            time.sleep(0.2)

    def manifest(self, url: str, timeout: float = 240) -> Json:
        resp = self.wait(url, timeout)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        assert "expires" in resp.headers
        data: Json = resp.json()
        return data

    def lines(self, url: str, headers: dict[str, str] | None = None) -> list[Json]:
        resp = self.client.get(url, headers={"Accept": "application/fhir+ndjson", **(headers or self.headers)})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/fhir+ndjson")
        assert resp.text == "" or resp.text.endswith("\n")
        return [orjson.loads(line) for line in resp.text.splitlines()]

    def outputs(self, manifest: Json) -> list[Json]:
        """Every resource of the manifest's output files, each file checked against its entry."""
        found: list[Json] = []
        for entry in manifest["output"]:
            resources = self.lines(entry["url"])
            assert {r["resourceType"] for r in resources} == {entry["type"]}, entry
            assert entry["count"] == len(resources)
            found += resources
        return found

    def export(self, path: str, params: Any = None, headers: dict[str, str] | None = None,
               body: Any = None) -> tuple[Json, list[Json]]:
        manifest = self.manifest(self.kick_off(path, params, headers, body))
        return manifest, self.outputs(manifest)


def keys(resources: list[Json]) -> list[Key]:
    return [(r["resourceType"], r["id"]) for r in resources]


@pytest.fixture(scope="session")
def synthea_server(pg_admin_url: str) -> Iterator[LiveServer]:
    """A server (authorization off) holding the whole Synthea set, loaded with PUT (ids kept)."""
    server = LiveServer(Database(pg_admin_url)).start()
    with server.client() as c:
        load(c, raw_bundles())
    yield server
    server.stop()


@pytest.fixture()
def bulk(synthea_server: LiveServer) -> Iterator[Bulk]:
    with synthea_server.client() as c:
        yield Bulk(c)
