"""history (R4 http.html#history): instance, type, system; newest first; _count paging, _since, _at."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient


def _versions(client: httpx.Client, n: int) -> dict:
    p = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()
    for i in range(n - 1):
        p["name"][0]["given"] = [f"G{i}"]
        p = client.put(f"/Patient/{p['id']}", json=p, headers=FHIR_JSON).json()
    return p


def test_instance_history_is_newest_first(client: httpx.Client) -> None:
    p = _versions(client, 3)
    hist = client.get(f"/Patient/{p['id']}/_history").json()
    assert hist["resourceType"] == "Bundle" and hist["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in hist["entry"]] == ["3", "2", "1"]
    assert hist["entry"][2]["request"] == {"method": "POST", "url": "Patient"}
    assert hist["entry"][0]["request"] == {"method": "PUT", "url": f"Patient/{p['id']}"}
    assert hist["entry"][0]["response"]["etag"] == 'W/"3"'


def test_history_of_unknown_resource_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("/Patient/nope-nope/_history"), 404)


def test_count_pages_follow_next_links(client: httpx.Client) -> None:
    p = _versions(client, 5)
    url: str | None = f"/Patient/{p['id']}/_history?_count=2"
    seen = []
    while url:
        page = client.get(url).json()
        seen += [e["resource"]["meta"]["versionId"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["5", "4", "3", "2", "1"]


def test_paging_neither_skips_nor_repeats_under_concurrent_writes(fresh: LiveServer) -> None:
    with fresh.client() as c:
        first = [c.post("/Observation", json=_obs(i), headers=FHIR_JSON).json()["id"] for i in range(7)]
        page = c.get("/Observation/_history", params={"_count": 3}).json()
        got = [e["resource"]["id"] for e in page["entry"]]
        # another client writes between the pages
        for i in range(4):
            c.post("/Observation", json=_obs(100 + i), headers=FHIR_JSON)
        nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
        while nxt:
            page = c.get(nxt).json()
            got += [e["resource"]["id"] for e in page["entry"]]
            nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        assert got == list(reversed(first))


def _obs(i: int) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": f"obs {i}"}}


def test_since_and_at(fresh: LiveServer) -> None:
    with fresh.client() as c:
        early = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()
        time.sleep(0.05)
        mark = datetime.now(UTC)
        time.sleep(0.05)
        early["gender"] = "male"
        c.put(f"/Patient/{early['id']}", json=early, headers=FHIR_JSON)
        late = c.post("/Patient", json=patient(), headers=FHIR_JSON).json()
        since = mark.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        got = c.get("/Patient/_history", params={"_since": since}).json()
        pairs = {(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in got["entry"]}
        assert pairs == {(early["id"], "2"), (late["id"], "1")}
        # _at the mark: version 1 of `early` was current then; `late` did not exist yet
        at = c.get("/Patient/_history", params={"_at": since}).json()
        assert {(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in at["entry"]} == {
            (early["id"], "1")
        }
        assert_outcome(c.get("/Patient/_history", params={"_since": "yesterday"}), 400)
        assert_outcome(c.get("/Patient/_history", params={"_count": "-1"}), 400)
        assert_outcome(c.get("/Patient/_history", params={"_foo": "1"}), 400)


def test_system_history_spans_types(fresh: LiveServer) -> None:
    with fresh.client() as c:
        c.post("/Patient", json=patient(), headers=FHIR_JSON)
        c.post("/Observation", json=_obs(1), headers=FHIR_JSON)
        hist = c.get("/_history").json()
        assert [e["resource"]["resourceType"] for e in hist["entry"]] == ["Observation", "Patient"]
