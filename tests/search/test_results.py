"""Result parameters (R4 search.html#return .. #elements): _include / _revinclude (:iterate, *),
_sort, _count, _total, _summary, _elements; POST _search; system search with _type; compartments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import assert_outcome
from tests.search import data
from tests.search.conftest import Searcher


def modes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["search"]["mode"], f"{e['resource']['resourceType']}/{e['resource'].get('id')}")
            for e in body["entry"]]


def test_include_once_not_counted(s: Searcher) -> None:
    body = s.bundle("/Observation?subject=pat-1&_include=Observation:subject&_include=Observation:patient")
    assert body["total"] == 2
    assert sorted(modes(body)) == [("include", "Patient/pat-1"), ("match", "Observation/obs-1"),
                                   ("match", "Observation/obs-4")]


def test_include_with_target_type_and_iterate(s: Searcher) -> None:
    q = "/Observation?_id=obs-1&_include=Observation:subject:Patient&_include:iterate=Patient:general-practitioner"
    assert sorted(modes(s.bundle(q))) == [("include", "Patient/pat-1"), ("include", "Practitioner/prac-1"),
                                          ("match", "Observation/obs-1")]
    # two iterations: Patient → Organization → its parent
    q = ("/Observation?_id=obs-1&_include=Observation:subject&_include:iterate=Patient:organization"
         "&_include:iterate=Organization:partof")
    assert s.ids(q, "include") == {"pat-1", "org-1", "org-3"}
    # without :iterate the include applies to the matches only
    q = "/Observation?_id=obs-1&_include=Observation:subject&_include=Patient:organization"
    assert s.ids(q, "include") == {"pat-1"}


def test_include_wildcards(s: Searcher) -> None:
    assert s.ids("/Observation?_id=obs-1&_include=*", "include") == {"pat-1", "enc-1"}
    assert s.ids("/Observation?_id=obs-1&_include=Observation:*", "include") == {"pat-1", "enc-1"}
    # everything that refers to pat-3: obs-3 and obs-8 (subject), enc-3 (subject)
    assert s.ids("/Patient?_id=pat-3&_revinclude=*", "include") == {"obs-3", "obs-8", "enc-3"}


def test_a_match_is_not_included_again(s: Searcher) -> None:
    body = s.bundle("/Organization?_id=org-1,org-3&_include=Organization:partof")
    assert sorted(modes(body)) == [("match", "Organization/org-1"), ("match", "Organization/org-3")]


def test_revinclude(s: Searcher) -> None:
    body = s.bundle("/Patient?_id=pat-1&_revinclude=Observation:subject&_revinclude=RiskAssessment:subject")
    assert body["total"] == 1
    assert s.ids("/Patient?_id=pat-1&_revinclude=Observation:subject", "include") == {"obs-1", "obs-4"}
    q = "/Patient?_id=pat-1,pat-2&_revinclude=Encounter:subject&_revinclude:iterate=Observation:encounter"
    assert s.ids(q, "include") == {"enc-1", "enc-2", "obs-1"}


def test_include_errors(s: Searcher) -> None:
    assert_outcome(s.get("/Observation?_include=Observation"), 400)
    assert_outcome(s.get("/Observation?_include=Nope:subject"), 400)
    assert_outcome(s.get("/Observation?_include=Observation:code"), 400)  # not a reference
    assert_outcome(s.get("/Observation?_include=Observation:subject:Nope"), 400)
    assert_outcome(s.get("/Observation?_include:deep=Observation:subject"), 400)
    # an unknown parameter name is not applied and is reported (strict: refused)
    body = s.bundle("/Observation?_id=obs-1&_include=Observation:nonsense")
    assert body["entry"][-1]["search"]["mode"] == "outcome"
    assert "_include" not in body["link"][0]["url"]
    strict = s.get("/Observation?_include=Observation:nonsense", headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400)


@pytest.mark.parametrize(("sort", "expected"), [
    # birthDate ascending by where the range starts; 1970-01 starts before 1970-01-15; no value last
    ("birthdate,-_id", ["pat-2", "pat-4", "pat-1", "pat-3", "pat-6", "pat-5"]),
    ("-birthdate,_id", ["pat-3", "pat-1", "pat-4", "pat-2", "pat-5", "pat-6"]),
    ("family,given", ["pat-5", "pat-1", "pat-2", "pat-4", "pat-3", "pat-6"]),  # "Anne" < "Hans"
    ("-family,-given", ["pat-3", "pat-4", "pat-1", "pat-2", "pat-5", "pat-6"]),  # highest given: "Renée"
    ("_id", sorted(data.ALL_PATIENTS)),
    ("-_id", sorted(data.ALL_PATIENTS, reverse=True)),
    ("gender,_id", ["pat-1", "pat-2", "pat-6", "pat-3", "pat-5", "pat-4"]),
])
def test_sort(s: Searcher, sort: str, expected: list[str]) -> None:
    assert s.id_list(f"/Patient?_sort={sort}") == expected
    # the same order across pages of two
    assert s.id_list(f"/Patient?_sort={sort}&_count=2") == expected


def test_sort_ties_are_stable_and_other_types(s: Searcher) -> None:
    once = s.id_list("/Patient?_sort=birthdate")
    assert once[0] == "pat-2" and set(once[1:3]) == {"pat-1", "pat-4"} and once[3] == "pat-3"
    assert once == s.id_list("/Patient?_sort=birthdate&_count=1")
    assert s.id_list("/RiskAssessment?_sort=-probability") == ["ra-2", "ra-1"]
    assert s.id_list("/Observation?_sort=value-quantity&value-quantity:missing=false")[0] == "obs-4"
    assert s.id_list("/ValueSet?_sort=url") == ["vs-1", "vs-2", "vs-4", "vs-3"]
    assert s.id_list("/Observation?_sort=date&date=lt2014") == ["obs-3", "obs-4", "obs-2", "obs-1", "obs-5"]
    assert s.id_list("/Observation?_sort=-date&date=lt2014") == ["obs-5", "obs-1", "obs-2", "obs-4", "obs-3"]


def test_unsortable_key_is_reported_and_left_out_of_the_link(s: Searcher) -> None:
    body = s.bundle("/Patient?_sort=nonsense,-_id&_count=1")
    assert body["link"][0]["url"].endswith("/Patient?_sort=-_id&_count=1")
    assert [e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == "match"] == ["pat-6"]
    assert body["entry"][-1]["search"]["mode"] == "outcome"


def test_count_and_total(s: Searcher) -> None:
    body = s.bundle("/Patient?_count=2")
    assert body["total"] == 6 and len(body["entry"]) == 2
    assert [link["relation"] for link in body["link"]] == ["self", "next"]
    zero = s.bundle("/Patient?_count=0")
    assert zero["total"] == 6 and zero["entry"] == []
    assert "total" not in s.bundle("/Patient?_total=none")
    assert s.bundle("/Patient?_total=accurate&_count=1")["total"] == 6
    assert isinstance(s.bundle("/Patient?_total=estimate&_count=1")["total"], int)
    assert s.bundle("/Patient?_count=1000000000000000000000")["total"] == 6
    for bad in ("-1", "abc", "1.5", "٣"):
        assert_outcome(s.get(f"/Patient?_count={bad}"), 400)
    assert_outcome(s.get("/Patient?_total=maybe"), 400)


def test_summary_and_elements(s: Searcher) -> None:
    full = s.bundle("/Patient?_id=pat-1")["entry"][0]["resource"]
    assert "maritalStatus" in full and "communication" in full
    summ = s.bundle("/Patient?_id=pat-1&_summary=true")["entry"][0]["resource"]
    assert summ["name"] == full["name"] and summ["birthDate"] == "1970-01-15"
    assert "maritalStatus" not in summ and "communication" not in summ and "generalPractitioner" not in summ
    assert any(t.get("code") == "SUBSETTED" for t in summ["meta"]["tag"])
    assert s.bundle("/Patient?_id=pat-1&_summary=false")["entry"][0]["resource"] == full
    data_only = s.bundle("/Patient?_id=pat-1&_summary=data")["entry"][0]["resource"]
    assert "text" not in data_only and "maritalStatus" in data_only
    text_only = s.bundle("/Patient?_id=pat-1&_summary=text")["entry"][0]["resource"]
    assert set(text_only) <= {"resourceType", "id", "meta", "text"}
    count = s.bundle("/Patient?gender=male&_summary=count")
    assert count["total"] == 2 and count["entry"] == []
    elements = s.bundle("/Patient?_id=pat-1&_elements=name,gender")["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "name", "gender"}
    included = s.bundle("/Observation?_id=obs-1&_include=Observation:subject&_elements=status")
    assert {k for e in included["entry"] for k in e["resource"]} <= {"resourceType", "id", "meta", "status",
                                                                    "code"}  # code is mandatory
    assert_outcome(s.get("/Patient?_summary=maybe"), 400)


def test_post_search_equals_get(s: Searcher) -> None:
    got = s.ids("/Observation?code=8480-6&subject:Patient.gender=female")
    resp = s.http.post("/Observation/_search", data={"code": "8480-6", "subject:Patient.gender": "female"})
    assert resp.status_code == 200, resp.text
    assert {e["resource"]["id"] for e in resp.json()["entry"]} == got == {"obs-1"}
    both = s.http.post("/Patient/_search?gender=male", data={"_id": "pat-2"})
    assert {e["resource"]["id"] for e in both.json()["entry"]} == {"pat-2"}


def test_system_search(s: Searcher) -> None:
    assert s.ids("/?_type=Patient,Practitioner&_id=pat-1,prac-1,org-1") == {"pat-1", "prac-1"}
    assert s.ids("/?_id=org-1,enc-2") == {"org-1", "enc-2"}
    body = s.bundle("/?_type=Patient,Organization&name=acme,zoe")
    assert {e["resource"]["id"] for e in body["entry"]} == {"org-1", "pat-3"}
    assert s.id_list("/?_type=Practitioner,Organization&_sort=-_id") == ["prac-2", "prac-1", "org-3", "org-2",
                                                                          "org-1"]
    assert s.get("/?_type=Nope").status_code == 400


def test_compartment_search(s: Searcher) -> None:
    assert s.ids("/Patient/pat-1/Observation") == {"obs-1", "obs-4"}
    assert s.ids("/Patient/pat-1/Observation?code=http://loinc.org|2339-0") == {"obs-4"}
    assert s.ids("/Patient/pat-2/Encounter") == {"enc-2"}
    assert s.ids("/Patient/pat-1/RiskAssessment") == {"ra-1"}
    assert s.ids("/Patient/nope/Observation") == set()
    assert s.ids("/Practitioner/prac-1/Encounter") == {"enc-1"}
    body = s.bundle("/Patient/pat-1/Observation?_count=1")
    assert body["link"][0]["url"].startswith(f"{s.base}/Patient/pat-1/Observation?")
    assert_outcome(s.get("/Patient/pat-1/Organization"), 400)  # Organization is not in the Patient compartment
