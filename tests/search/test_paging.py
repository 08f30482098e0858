"""Stable paging (R4 search.html#paging, http.html#paging): following next (or previous) links neither
skips nor repeats a resource when other clients write between pages."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON


def _create(c: httpx.Client, family: str, birth: str) -> str:
    body = {"resourceType": "Patient", "name": [{"family": family}], "birthDate": birth}
    resp = c.post("/Patient", content=orjson.dumps(body), headers=FHIR_JSON)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _page(c: httpx.Client, url: str) -> tuple[list[str], dict[str, str]]:
    resp = c.get(url)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    ids = [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]
    return ids, {link["relation"]: link["url"] for link in body["link"]}


@pytest.mark.parametrize("sort", ["", "&_sort=family", "&_sort=-birthdate,family", "&_sort=_lastUpdated"])
def test_paging_under_concurrent_writes(fresh: LiveServer, sort: str) -> None:
    tag = "Pg" + uuid.uuid4().hex[:6]
    with fresh.client() as c:
        original = {_create(c, f"{tag}{i:02d}", f"19{50 + i % 7}-0{1 + i % 9}-1{i % 10}") for i in range(23)}
        url = f"/Patient?family={tag}&_count=5{sort}"
        seen: list[str] = []
        writes = 0
        while url:
            ids, links = _page(c, url)
            seen += ids
            # between pages: new matches (before and after in sort order) and an unrelated update
            _create(c, f"{tag}00a", "1940-01-01")
            _create(c, f"{tag}zz", "2010-01-01")
            writes += 2
            url = links.get("next", "")
        assert len(seen) == len(set(seen)), "a resource was repeated"
        assert original <= set(seen), "a resource that existed all along was skipped"
        assert writes >= 10


def test_previous_links_walk_back_exactly(fresh: LiveServer) -> None:
    tag = "Pv" + uuid.uuid4().hex[:6]
    with fresh.client() as c:
        for i in range(12):
            _create(c, f"{tag}{i % 4}", f"1980-01-{10 + i}")
        url = f"/Patient?family={tag}&_count=5&_sort=family,-birthdate"
        pages = []
        while url:
            ids, links = _page(c, url)
            pages.append((ids, links))
            url = links.get("next", "")
        assert [len(p[0]) for p in pages] == [5, 5, 2]
        back, _ = _page(c, pages[2][1]["previous"])
        assert back == pages[1][0]
        first, links = _page(c, pages[1][1]["previous"])
        assert first == pages[0][0] and "previous" not in links
        assert "previous" not in pages[0][1] and "first" in pages[1][1]
        # totals stay those of the first page
        total = c.get(pages[2][1]["self"]).json()["total"]
        assert total == 12


def test_concurrent_writer_thread(fresh: LiveServer) -> None:
    """A writer keeps inserting and deleting unrelated resources while a reader pages."""
    tag = "Cw" + uuid.uuid4().hex[:6]
    stop = threading.Event()
    with fresh.client() as c:
        original = {_create(c, tag, "1990-01-01") for _ in range(40)}

        def writer() -> None:
            with fresh.client() as w:
                while not stop.is_set():
                    new = _create(w, tag, "1991-01-01")
                    w.delete(f"/Patient/{new}")

        t = threading.Thread(target=writer)
        t.start()
        try:
            seen: list[str] = []
            url = f"/Patient?family={tag}&_count=3&_sort=birthdate"
            while url:
                ids, links = _page(c, url)
                seen += ids
                url = links.get("next", "")
        finally:
            stop.set()
            t.join(timeout=30)
        assert len(seen) == len(set(seen))
        assert original <= set(seen)
