"""Handling of parameters the server does not apply, and of bad input (R4 search.html#errors).

Default (lenient): an unknown or unsupported parameter is ignored, left out of the self link (which
shows only what was applied) and reported in an OperationOutcome entry (search.mode = outcome,
severity warning). ``Prefer: handling=strict``: a 400 OperationOutcome naming it. Malformed values
are 400s; nothing a client sends is a 500.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.helpers import assert_outcome
from tests.search.conftest import Searcher

STRICT = {"Prefer": "handling=strict"}


def test_unknown_parameter_is_ignored_and_reported(s: Searcher) -> None:
    body = s.bundle("/Patient?gender=male&nonsense=1&_text=x&_contained=true")
    matches = {e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == "match"}
    assert matches == {"pat-2", "pat-6"}
    assert body["total"] == 2
    assert body["link"][0] == {"relation": "self", "url": f"{s.base}/Patient?gender=male"}
    outcome = body["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    issues = outcome["resource"]["issue"]
    assert {i["severity"] for i in issues} == {"warning"}
    assert {i["expression"][0] for i in issues} == {"nonsense", "_text", "_contained"}


def test_strict_handling_refuses_unknown_parameters(s: Searcher) -> None:
    body = assert_outcome(s.get("/Patient?gender=male&nonsense=1", headers=STRICT), 400)
    assert "nonsense" in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == ["nonsense"]
    assert_outcome(s.get("/Patient?_sort=nonsense", headers=STRICT), 400)
    ok = s.get("/Patient?gender=male", headers=STRICT)
    assert ok.status_code == 200
    assert all(e["search"]["mode"] == "match" for e in ok.json()["entry"])
    lenient = s.bundle("/Patient?nonsense=1", headers={"Prefer": "handling=lenient"})
    assert lenient["entry"][-1]["search"]["mode"] == "outcome"


def test_unsupported_modifier_is_an_error(s: Searcher) -> None:
    # R4's own example (operationoutcome-example-searchfail): an unsupported modifier is refused
    assert_outcome(s.get("/Patient?gender:exact=male"), 400)
    assert_outcome(s.get("/Patient?birthdate:contains=1970"), 400)
    assert_outcome(s.get("/Patient?family:below=x"), 400)


HOSTILE = [
    "name='; DROP TABLE resource; --", "name=%22%29%20OR%201%3D1--", "family=%5C", "family=%25%25%25",
    "name=" + "x" * 20000, "identifier=" + "|" * 50, "identifier=a|b|c", "gender=" + ",".join(["x"] * 900),
    "birthdate=" + "9" * 5000, "birthdate=ge" + "2013-01-01T" * 40, "_id=" + quote("\u0000"),
    "name=" + quote("\u0000"), "name=%FF%FE", "_lastUpdated=gt2013-01-01T00:00:00%2B24:00",
    "_sort=" + ",".join(["_id"] * 50), "_count=99999999999999999999999999999999999",
    "_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:code=1",
    "general-practitioner." * 6 + "name=x", "_has=1", "_has:::=1", ":=1", "name:=x", "name.=x", ".x=1",
    "_summary=count&_count=-1", "_cursor=%%%", "_cursor=" + "A" * 5000, "_include=*:*",
    "_include=Patient:*:Nope", "_revinclude=Observation:subject:Nope", "_elements=", "identifier:of-type=a|b",
    "_list=" + quote("'; --"), "organization:identifier=|", "_id:missing=maybe", "_lastUpdated=ap0001",
    "gender:in=http://nowhere.example.org/vs", "gender:below=male", "general-practitioner:Patient=1",
    "_tag=" + "a" * 3000, "address=" + quote("\u202e\ud7ff"), "name:contains=" + "%" * 100,
    "_has:Observation:patient:code:not=1,2,3", "birthdate=gt2013&birthdate=lt2012&" * 20 + "gender=male",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_is_never_a_server_error(s: Searcher, query: str) -> None:
    resp = s.get(f"/Patient?{query}")
    assert resp.status_code < 500, resp.text[:500]
    if resp.status_code >= 400:
        assert_outcome(resp, resp.status_code)
    else:
        assert resp.json()["resourceType"] == "Bundle"
    assert s.bundle("/Patient?_summary=count")["total"] == 6  # and the data is still there


def test_many_values_and_parameters_are_refused_not_crashed(s: Searcher) -> None:
    assert_outcome(s.get("/Patient?gender=" + ",".join(["x"] * 1500)), 400)
    assert_outcome(s.get("/Patient?" + "&".join(f"gender=x{i}" for i in range(150))), 400)


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "garbage", "e30", _cursor({"a": 1}), _cursor([1, [], "x", None]), _cursor([1, [], -5, None]),
    _cursor([1, [], 2**70, None]), _cursor([1, ["x"], 1, None]), _cursor([2, [], 1, None]),
    _cursor([1, [{"t": "not a date"}], 1, None]), _cursor([1, [{"t": "2013-01-01T00:00:00"}], 1, None]),
    _cursor([1, [{"n": "1e999999"}], 1, None]), _cursor([1, [12], 1, None]), _cursor([1, [True], 1, None]),
])
def test_bad_cursors_are_400(s: Searcher, cursor: str) -> None:
    assert_outcome(s.get(f"/Patient?_sort=birthdate&_cursor={cursor}"), 400)


def test_a_cursor_of_another_search_is_400(s: Searcher) -> None:
    body = s.bundle("/Patient?_sort=birthdate&_count=2")
    nxt = next(link["url"] for link in body["link"] if link["relation"] == "next")
    cursor = nxt.split("_cursor=")[1]
    assert_outcome(s.get(f"/Patient?_sort=family,given&_cursor={cursor}"), 400)
    assert_outcome(s.get(f"/Patient?_sort=family&_cursor={cursor}"), 400)


def test_include_from_another_type_is_reported_not_silently_dropped(s: Searcher) -> None:
    # search.html#include: _include=[source type]:[parameter]; the source is the type searched
    body = s.bundle("/Patient?gender=male&_include=Observation:subject")
    assert all(e["search"]["mode"] != "include" for e in body["entry"])
    assert body["link"][0]["url"] == f"{s.base}/Patient?gender=male"
    outcome = body["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert outcome["resource"]["issue"][0]["expression"] == ["_include=Observation:subject"]
    assert_outcome(s.get("/Patient?_include=Observation:subject", headers=STRICT), 400)
    # with :iterate the source may be any type (what an earlier _include brought in)
    iterate = s.bundle("/Patient?gender=male&_include:iterate=Observation:subject")
    assert all(e["search"]["mode"] != "outcome" for e in iterate["entry"])


def test_unknown_elements_are_reported(s: Searcher) -> None:
    body = s.bundle("/Patient?gender=male&_elements=foo,name")
    outcome = body["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    issues = outcome["resource"]["issue"]
    assert [i["expression"][0] for i in issues] == ["_elements"] and "'foo'" in issues[0]["diagnostics"]
    assert_outcome(s.get("/Patient?_elements=foo", headers=STRICT), 400)
    ok = s.bundle("/Patient?gender=male&_elements=name,Patient.birthDate")
    assert all(e["search"]["mode"] == "match" for e in ok["entry"])


def test_repeated_history_parameters_are_400(s: Searcher) -> None:
    assert_outcome(s.get("/Patient/_history?_since=2020-01-01T00:00:00Z&_since=2021-01-01T00:00:00Z"), 400)
    assert_outcome(s.get("/_history?_count=1&_count=2"), 400)
    assert s.get("/_history?_since=2020-01-01T00:00:00Z").status_code == 200
