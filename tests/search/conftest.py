"""Fixtures of the search tests: one server holding the hand-built data set (``data.py``), and helpers.

The data set is written once per test session through a transaction Bundle of PUTs (fixed ids),
on a database of its own, so the expected ids in the tests are exactly those of ``data.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON
from tests.search import data


class Searcher:
    """A client with helpers that return the ids a search matched (following every ``next`` link)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.base = server.base
        self.http = server.client(headers={"Accept": "application/fhir+json"})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def bundle(self, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self.http.get(path, **kwargs)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        assert body["resourceType"] == "Bundle" and body["type"] == "searchset", body
        return body

    def ids(self, path: str, mode: str = "match", **kwargs: Any) -> set[str]:
        """Ids of the entries with this search mode, over all pages."""
        return set(self.id_list(path, mode, **kwargs))

    def id_list(self, path: str, mode: str = "match", **kwargs: Any) -> list[str]:
        out: list[str] = []
        body = self.bundle(path, **kwargs)
        while True:
            out += [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == mode]
            nxt = [link["url"] for link in body.get("link", []) if link["relation"] == "next"]
            if not nxt:
                return out
            body = self.bundle(nxt[0], **kwargs)

    def close(self) -> None:
        self.http.close()


def load(server: LiveServer, resources: list[dict[str, Any]]) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}
    with server.client() as c:
        resp = c.post("/", content=orjson.dumps(bundle), headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text[:2000]


@pytest.fixture(scope="session")
def dataset(pg_admin_url: str) -> Iterator[Searcher]:
    """A server with exactly the resources of ``data.py`` (audit off: no AuditEvents among them)."""
    server = LiveServer(Database(pg_admin_url), audit="off").start()
    load(server, data.resources())
    searcher = Searcher(server)
    yield searcher
    searcher.close()
    server.stop()


@pytest.fixture()
def s(dataset: Searcher) -> Searcher:
    return dataset
